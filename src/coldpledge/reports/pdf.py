"""Reports as PDF: Jinja2 renders HTML, WeasyPrint lays it out.

The stylesheet names "Noto Sans CJK SC" first (Debian's fonts-noto-cjk, found by fontconfig), so
Chinese is drawn from a CJK font rather than left as empty boxes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coldpledge.errors import N_, Unavailable
from coldpledge.i18n import current_locale, translated_environment
from coldpledge.reports import format as fmt
from coldpledge.reports.model import Certificate, DailyReport, PortfolioReport

TEMPLATES = Path(__file__).parent / "templates"

environment = translated_environment(TEMPLATES)
environment.filters.update(
    yuan=fmt.yuan,
    kg=fmt.kg,
    percent=fmt.percent,
    celsius=fmt.celsius,
    minutes=fmt.minutes,
    local_time=fmt.local_time,
)


def html(template: str, **context: Any) -> str:
    lang = "zh-CN" if current_locale() == "zh_Hans_CN" else "en"
    return environment.get_template(template).render(html_lang=lang, **context)


def to_pdf(markup: str) -> bytes:
    # Imported here: WeasyPrint loads Pango when imported, which only report requests need; a
    # server without it still serves everything else and says what PDFs lack.
    try:
        from weasyprint import HTML
    except OSError as missing:
        raise Unavailable(
            N_("PDF reports need the Pango libraries on the server (Debian: libpangoft2-1.0-0).")
        ) from missing

    data: bytes = HTML(string=markup, base_url=str(TEMPLATES)).write_pdf()
    return data


def daily_pdf(report: DailyReport) -> bytes:
    return to_pdf(html("daily.html", report=report))


def portfolio_pdf(report: PortfolioReport) -> bytes:
    return to_pdf(html("portfolio.html", report=report))


def certificate_pdf(certificate: Certificate) -> bytes:
    return to_pdf(html("certificate.html", certificate=certificate))
