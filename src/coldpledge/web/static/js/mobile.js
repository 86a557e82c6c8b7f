/* The phone app's forms (/m/): sent with fetch, and kept on the phone when the network fails.
 *
 * A cold store's loading dock often has no signal. A form that cannot be sent (the fetch itself
 * fails, or the server answers 5xx) is kept in IndexedDB with its fields and its photo as a Blob,
 * and sent again, in the order it was made, when the browser is back online, every little while,
 * and on the next page load. Nothing typed is lost: what the server refuses when it is sent later
 * is shown with the words that were typed.
 */
(function () {
  "use strict";

  // Keeps the app's scripts and styles and a page saying the network is gone (see sw.js).
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(function () {});
  }

  var DB_NAME = "coldpledge-mobile";
  var STORE = "outbox";
  var RETRY_MS = 20000;
  var outbox = document.getElementById("outbox");
  if (!outbox) {
    return;
  }
  var words = outbox.dataset;
  var refusals = [];
  var flushing = false;

  // --- IndexedDB ------------------------------------------------------------------------------

  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function inStore(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var request = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(request.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function keep(item) { return inStore("readwrite", function (store) { return store.add(item); }); }
  function drop(id) { return inStore("readwrite", function (store) { return store.delete(id); }); }
  // Only the signed-in person's own: a phone passed to a colleague never sends in their name.
  function pending() {
    return inStore("readonly", function (store) { return store.getAll(); }).then(function (items) {
      return items.filter(function (item) { return item.user === words.user; });
    });
  }

  // --- sending --------------------------------------------------------------------------------

  function fieldsOf(form) {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (value instanceof File) {
        if (value.size > 0) {
          fields.push({ name: name, blob: value.slice(0, value.size, value.type), filename: value.name || "photo" });
        }
      } else {
        fields.push({ name: name, value: value });
      }
    });
    return fields;
  }

  function send(item) {
    var body = new FormData();
    item.fields.forEach(function (field) {
      if (field.blob) {
        body.append(field.name, field.blob, field.filename);
      } else {
        body.append(field.name, field.value);
      }
    });
    return fetch(item.url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      // HX-Request: a refusal comes back as the error fragment a person reads, not as JSON.
      headers: { "X-CSRF-Token": words.csrf, "HX-Request": "true", "Accept": "text/html" },
    });
  }

  function textOf(html) {
    var parsed = new DOMParser().parseFromString(html, "text/html");
    return (parsed.body.textContent || "").trim();
  }

  function typed(item) {
    return item.fields
      .filter(function (field) { return !field.blob && /^(text|resolution|review_note|note)$/.test(field.name) && field.value; })
      .map(function (field) { return field.value; })
      .join(" / ");
  }

  // The answer is what the action changed as it now stands (a work order, a counted lot, a release
  // at the dock): it takes the place of the element with the same id, when the page shows one.
  function swap(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var fresh = template.content.firstElementChild;
    var current = fresh && fresh.id ? document.getElementById(fresh.id) : null;
    if (current) {
      current.replaceWith(fresh);
    }
    return fresh;
  }

  function say(form, text, kind) {
    var answer = form.querySelector(".answer");
    if (!answer) {
      return;
    }
    answer.textContent = "";
    var line = document.createElement("p");
    line.className = kind;
    line.setAttribute("role", kind === "error" ? "alert" : "status");
    line.textContent = text;
    answer.appendChild(line);
  }

  function locate(form) {
    return new Promise(function (resolve) {
      if (!navigator.geolocation) {
        resolve(false);
        return;
      }
      navigator.geolocation.getCurrentPosition(
        function (position) {
          var coords = position.coords;
          form.elements.latitude_e6.value = String(Math.round(coords.latitude * 1e6));
          form.elements.longitude_e6.value = String(Math.round(coords.longitude * 1e6));
          form.elements.accuracy_m.value = String(Math.min(100000, Math.round(coords.accuracy || 0)));
          resolve(true);
        },
        function () { resolve(false); },
        { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
      );
    });
  }

  function cleared(form) {
    form.reset();
    form.querySelectorAll("output").forEach(function (out) { out.textContent = ""; });
    var preview = form.querySelector("img.preview");
    if (preview) {
      preview.hidden = true;
      preview.removeAttribute("src");
    }
  }

  async function submit(form) {
    if (form.dataset.busy) {
      return;
    }
    form.dataset.busy = "yes";
    var button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
    }
    try {
      if (form.hasAttribute("data-geo") && !(await locate(form))) {
        say(form, words.noGps, "error");
        return;
      }
      var item = {
        url: form.action,
        user: words.user,
        page: location.pathname,
        label: form.dataset.label || "",
        fields: fieldsOf(form),
        at: new Date().toISOString(),
      };
      // Behind what is already waiting: the steps of a work order reach the server in order.
      if ((await pending()).length > 0) {
        await keep(item);
        cleared(form);
        say(form, words.saved, "queued");
        await flush();
        return;
      }
      var response;
      try {
        response = await send(item);
      } catch (networkError) {
        await keep(item);
        cleared(form);
        say(form, words.saved, "queued");
        return;
      }
      if (response.status === 401) {
        await keep(item);
        location.assign("/login?next=" + encodeURIComponent(location.pathname));
        return;
      }
      if (response.status >= 500) {
        await keep(item);
        cleared(form);
        say(form, words.failed, "queued");
        return;
      }
      var html = await response.text();
      if (response.ok) {
        swap(html);
      } else {
        say(form, textOf(html), "error");
      }
    } finally {
      delete form.dataset.busy;
      if (button) {
        button.disabled = false;
      }
      await show(null);
    }
  }

  async function flush() {
    if (flushing || !navigator.onLine) {
      return;
    }
    flushing = true;
    var sent = 0;
    try {
      var items = await pending();
      for (var i = 0; i < items.length; i += 1) {
        var item = items[i];
        var response;
        try {
          response = await send(item);
        } catch (stillOffline) {
          break;
        }
        if (response.status === 401) {
          refusals = [words.signIn];
          break;
        }
        if (response.status >= 500) {
          break;
        }
        await drop(item.id);
        var html = await response.text();
        if (response.ok) {
          sent += 1;
          if (item.page === location.pathname) {
            swap(html);
          }
        } else {
          var what = typed(item);
          refusals.push(words.refused + " " + item.label + " — " + textOf(html) + (what ? " «" + what + "»" : ""));
        }
      }
    } finally {
      flushing = false;
      await show(sent > 0 ? words.sent : null);
    }
  }

  // --- what the phone holds -------------------------------------------------------------------

  async function show(message) {
    var items = await pending();
    outbox.dataset.pending = String(items.length);
    var head = outbox.querySelector(".outbox-head");
    var list = outbox.querySelector(".outbox-items");
    head.textContent = items.length > 0 ? words.saved : message || "";
    list.textContent = "";
    items.forEach(function (item) {
      var line = document.createElement("li");
      var photo = item.fields.some(function (field) { return field.blob; }) ? " + " + words.photo : "";
      line.textContent = words.waiting + ": " + item.label + photo + " · " + new Date(item.at).toLocaleTimeString();
      list.appendChild(line);
    });
    refusals.forEach(function (text) {
      var line = document.createElement("li");
      line.className = "error";
      line.textContent = text;
      list.appendChild(line);
    });
    outbox.classList.toggle("has-pending", items.length > 0);
    outbox.hidden = items.length === 0 && refusals.length === 0 && !message;
  }

  function report(error) {
    outbox.hidden = false;
    outbox.querySelector(".outbox-head").textContent = String(error && error.message ? error.message : error);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-outbox]");
    if (!form) {
      return;
    }
    event.preventDefault();
    submit(form).catch(report);
  });

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file") {
      return;
    }
    var preview = input.form && input.form.querySelector("img.preview");
    if (preview && input.files && input.files[0]) {
      preview.src = URL.createObjectURL(input.files[0]);
      preview.hidden = false;
    }
  });

  // --- what a count or a weighing comes to, before it is sent -------------------------------------

  // Typed as people type (1,040 or 25 992.5); NaN for anything that is not a number.
  function number(text) {
    var cleaned = String(text || "").replace(/[,，\s]/g, "");
    return /^-?\d+(\.\d+)?$/.test(cleaned) ? Number(cleaned) : NaN;
  }

  function signed(value, digits) {
    var text = Math.abs(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    return (value < 0 ? "-" : "+") + text;
  }

  // As the inventory service reckons it: (counted - book) / book in basis points, half away from zero.
  function varianceBp(measured, reference) {
    if (reference === 0) {
      return measured === 0 ? 0 : 10000;
    }
    var scaled = Math.abs(measured - reference) * 10000;
    var quotient = Math.floor(scaled / reference);
    if ((scaled - quotient * reference) * 2 >= reference) {
      quotient += 1;
    }
    return measured < reference ? -quotient : quotient;
  }

  function showVariance(form) {
    var out = form.querySelector("output.variance");
    var cartons = number(form.elements.counted_cartons.value);
    var kg = number(form.elements.counted_kg.value);
    if (isNaN(cartons) || isNaN(kg)) {
      out.textContent = "";
      delete out.dataset.state;
      return;
    }
    var bookCartons = Number(form.dataset.bookCartons);
    var bookG = Number(form.dataset.bookG);
    var countedG = Math.round(kg * 1000);
    var bp = varianceBp(countedG, bookG);
    var within = Math.abs(bp) <= Number(form.dataset.toleranceBp) && cartons === bookCartons;
    out.dataset.state = within ? "within" : "beyond";
    out.textContent = out.dataset.variance + ": " +
      signed(cartons - bookCartons, 0) + " " + out.dataset.cartons +
      " (" + signed(varianceBp(cartons, bookCartons) / 100, 2) + " %) · " +
      signed((countedG - bookG) / 1000, 3) + " kg (" + signed(bp / 100, 2) + " %) · " +
      (within ? out.dataset.within : out.dataset.beyond);
  }

  function showNet(form) {
    var out = form.querySelector("output.net");
    var gross = number(form.elements.gross_kg.value);
    var tare = number(form.elements.tare_kg.value);
    if (!out || isNaN(gross) || isNaN(tare)) {
      if (out) {
        out.textContent = "";
      }
      return;
    }
    var netG = Math.round(gross * 1000) - Math.round(tare * 1000);
    var over = netG > Number(out.dataset.allowed);
    out.classList.toggle("over", over);
    out.textContent = out.dataset.net + " " + (netG / 1000).toLocaleString("en-US", { minimumFractionDigits: 3 }) +
      " kg" + (over ? " · " + out.dataset.over : "");
  }

  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (!form) {
      return;
    }
    if (form.hasAttribute("data-count")) {
      showVariance(form);
    } else if (form.hasAttribute("data-weigh")) {
      showNet(form);
    }
  });

  // --- the release instruction's QR code, read from a photo on the phone ---------------------------

  var RELEASE_QR = /^coldpledge:release:(\d+):([A-Za-z0-9]+)$/;

  async function readQr(file) {
    var bitmap = await createImageBitmap(file);
    // A phone photo is 12 megapixels; a QR code a hand's width away reads as well at 1600 px.
    var scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    var found = window.jsQR ? window.jsQR(pixels.data, pixels.width, pixels.height) : null;
    return found ? found.data.trim() : null;
  }

  async function lookUp(form, releaseId, code) {
    var response = await fetch("/m/releases/execute?release_id=" + encodeURIComponent(releaseId), {
      credentials: "same-origin",
      headers: { "HX-Request": "true", "Accept": "text/html" },
    });
    var html = await response.text();
    if (!response.ok) {
      say(form, textOf(html), "error");
      return;
    }
    say(form, "", "status");
    var dock = swap(html);
    history.replaceState(null, "", "/m/releases/execute?release_id=" + encodeURIComponent(releaseId));
    var codeField = dock && dock.querySelector("input[name=release_code]");
    if (codeField && code) {
      codeField.value = code;
    }
    var next = dock && dock.querySelector("input[name=vehicle_plate]");
    if (next) {
      next.focus();
    }
  }

  function lookUpTyped(form) {
    var typed = String(form.elements.release_id.value || "").trim();
    var scanned = RELEASE_QR.exec(typed);
    if (scanned) {
      return lookUp(form, scanned[1], scanned[2]);
    }
    if (!/^\d+$/.test(typed)) {
      say(form, form.dataset.notNumber, "error");
      return Promise.resolve();
    }
    return lookUp(form, typed, null);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-lookup]");
    if (!form) {
      return;
    }
    event.preventDefault();
    lookUpTyped(form).catch(function (error) { say(form, String(error && error.message || error), "error"); });
  });

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-qr") || !input.files || !input.files[0]) {
      return;
    }
    var form = input.form;
    readQr(input.files[0]).then(function (text) {
      input.value = "";
      var scanned = text ? RELEASE_QR.exec(text) : null;
      if (!scanned) {
        say(form, form.dataset.noCode, "error");
        return null;
      }
      form.elements.release_id.value = scanned[1];
      return lookUp(form, scanned[1], scanned[2]);
    }).catch(function () { say(form, form.dataset.noCode, "error"); });
  });

  window.addEventListener("online", function () { flush().catch(report); });
  window.setInterval(function () { flush().catch(report); }, RETRY_MS);
  show(null).then(flush).catch(report);
})();
