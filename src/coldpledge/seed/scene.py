"""The stage of the demo story: who is who, what exists, and the steps the parties take.

Every step goes through the real services in a unit of work on the story's clock, so every row
the demo leaves has its audit event and its evidence entry, dated when the story says it happened.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.inventory import service as inventory
from coldpledge.inventory.files import FileStore
from coldpledge.inventory.models import AttachmentPurpose, InspectionResult, Lot
from coldpledge.inventory.schemas import (
    DisinfectIn,
    InboundIn,
    InspectIn,
    SealIn,
    StocktakeIn,
    UnsealIn,
    WeighIn,
    WeighingIn,
)
from coldpledge.parties.policy import Principal
from coldpledge.receipts import service as receipts
from coldpledge.receipts.schemas import NoteIn, PledgeAcceptIn, PledgeRequestIn, ReceiptCreateIn
from coldpledge.seed.identifiers import container_number, customs_declaration, digits
from coldpledge.seed.media import Colour, certificate_pdf, label_photo, pallet_photo
from coldpledge.seed.story import StoryClock
from coldpledge.uow import UnitOfWork

# Cartons stand on pallets of about this many; the floor scale's tare is the pallets' weight.
CARTONS_PER_PALLET = 40
PALLET_TARE_G = 21_500
# A reefer tractor with its 40-foot container, as the gate weighbridge sees it empty.
TRUCK_TARE_G = 19_840_000
# Rough market prices, for the insured amounts.
PRICE_FEN_PER_KG = {"PORK-FZ": 19_00, "BEEF-FZ": 42_00, "SHRIMP-FZ": 48_00, "CHICKEN-CH": 16_00}


@dataclass(frozen=True)
class LotPlan:
    """A lot as it arrives: what the documents say, and where it goes."""

    key: str
    owner: str  # organisation key
    room: str  # room code
    commodity: str  # commodity code
    spec: str
    name_en: str
    brand: str | None
    origin: str  # ISO 3166-1 alpha-2
    plant: str | None
    batch_prefix: str
    cartons: int
    declared_g: int
    produced_days_before: int
    shelf_life_days: int
    band: Colour
    location: str
    plate: str
    shipping_line: str | None = None  # owner code of the container; None for goods by road
    # Weighed against declared, in basis points: cartons of random weight never match exactly.
    weighing_variance_bp: int = -4

    @property
    def imported(self) -> bool:
        return self.origin != "CN"


@dataclass
class Site:
    warehouse_key: str
    warehouse_id: int
    customs_office: str  # the office that clears imports landed here
    city_code: str  # for certificate and report numbers
    sealer: str  # who seals and counts here (a username)


@dataclass
class Scene:
    database: Database
    settings: Settings
    clock: StoryClock
    rng: random.Random = field(default_factory=lambda: random.Random(20_251_128))
    orgs: dict[str, int] = field(default_factory=dict)
    org_names: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    who: dict[str, Principal] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    rooms: dict[str, int] = field(default_factory=dict)
    room_site: dict[str, str] = field(default_factory=dict)
    vws: dict[str, int] = field(default_factory=dict)
    commodities: dict[str, int] = field(default_factory=dict)
    plans: dict[str, LotPlan] = field(default_factory=dict)
    lots: dict[str, int] = field(default_factory=dict)
    receipts: dict[str, int] = field(default_factory=dict)
    # Lots under seal that the weekly stocktake counts, with the story day each arrived.
    counted: dict[str, int] = field(default_factory=dict)
    arrived: dict[str, int] = field(default_factory=dict)
    # Financing: price series by commodity code, facilities by bank key, drawdowns by their key.
    series: dict[str, int] = field(default_factory=dict)
    facilities: dict[str, int] = field(default_factory=dict)
    drawdowns: dict[str, int] = field(default_factory=dict)
    _seal_serials: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = FileStore(self.settings.attachments_dir, self.settings.attachment_max_bytes)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.database.write_session, clock=self.clock)

    def site_of(self, key: str) -> Site:
        return self.sites[self.room_site[self.plans[key].room]]

    def stock(self, key: str) -> tuple[int, int]:
        """The lot's book stock: verified grams and cartons."""
        with self.database.reading() as session:
            lot = session.get_one(Lot, self.lots[key])
            return lot.verified_net_weight_g, lot.cartons

    # --- goods in ---------------------------------------------------------------------------------

    def receive(self, plan: LotPlan, *, note: str | None = None) -> int:
        """Inbound at the gate: the truck is weighed in and the lot is created from its papers."""
        self.plans[plan.key] = plan
        site = self.sites[self.room_site[plan.room]]
        today = self.clock.today
        produced = today - timedelta(days=plan.produced_days_before)
        container = (
            container_number(plan.shipping_line, self.rng.randrange(100_000, 999_999))
            if plan.shipping_line
            else None
        )
        gate_net = round_to(plan.declared_g + self.rng.randint(-30_000, 30_000), 20_000)
        data = InboundIn(
            owner_org_id=self.orgs[plan.owner],
            room_id=self.rooms[plan.room],
            location=plan.location,
            commodity_id=self.commodities[plan.commodity],
            spec=plan.spec,
            brand=plan.brand,
            origin_country=plan.origin,
            plant_number=plan.plant,
            batch_number=f"{plan.batch_prefix}{produced:%y%m%d}",
            production_date=produced,
            expiry_date=produced + timedelta(days=plan.shelf_life_days),
            declared_cartons=plan.cartons,
            declared_net_weight_g=plan.declared_g,
            customs_declaration_no=(
                customs_declaration(site.customs_office, today.year, self.rng) if plan.imported else None
            ),
            quarantine_cert_no=self._quarantine_certificate(site, plan),
            container_no=container,
            lead_seal_no=f"{plan.origin}{digits(self.rng, 7)}" if container else None,
            vehicle_plate=plan.plate,
            truck_weighing=WeighingIn(
                gross_g=gate_net + TRUCK_TARE_G,
                tare_g=TRUCK_TARE_G,
                weigh_ticket_no=f"GT-{site.city_code}-{today:%y%m%d}-{self.rng.randrange(100, 999)}",
                scale_ref=f"{site.city_code}-WB-01",
            ),
            note=note,
        )
        self.lots[plan.key] = inventory.inbound(self.uow(), self.who["keeper"], data).id
        self.arrived[plan.key] = self.clock.day
        return self.lots[plan.key]

    def _quarantine_certificate(self, site: Site, plan: LotPlan) -> str:
        if plan.imported:
            # 入境货物检验检疫证明: the customs office, the year, a sequence.
            return f"{site.customs_office}{self.clock.today:%y}0{digits(self.rng, 9)}"
        # 动物检疫合格证明 of the slaughterhouse's county.
        return f"A-{digits(self.rng, 10)}"

    def weigh(self, key: str) -> None:
        plan = self.plans[key]
        site = self.site_of(key)
        net = round_to(plan.declared_g * (10_000 + plan.weighing_variance_bp) // 10_000, 100)
        tare = -(-plan.cartons // CARTONS_PER_PALLET) * PALLET_TARE_G
        inventory.weigh(
            self.uow(),
            self.who["keeper"],
            self.lots[key],
            WeighIn(
                gross_g=net + tare,
                tare_g=tare,
                weigh_ticket_no=f"WT-{site.city_code}-{self.clock.today:%y%m%d}-{digits(self.rng, 4)}",
                scale_ref=f"{site.city_code}-FS-03",
                cartons=plan.cartons,
                note="逐托过磅，扣除托盘皮重",
            ),
        )

    def inspect(
        self,
        key: str,
        result: InspectionResult = InspectionResult.PASSED,
        *,
        agency: str | None = None,
        note: str | None = None,
    ) -> None:
        plan = self.plans[key]
        site = self.site_of(key)
        core = {"SHRIMP-FZ": "-23.4", "CHICKEN-CH": "2.1"}.get(plan.commodity, "-19.2")
        inventory.inspect(
            self.uow(),
            self.who["keeper"],
            self.lots[key],
            InspectIn(
                result=result,
                agency=agency or f"CCIC {site.city_code}",
                report_no=f"CCIC{site.city_code}{self.clock.today:%y%m%d}{digits(self.rng, 4)}",
                core_temperature_c=Decimal(core) + Decimal(self.rng.randint(-6, 6)) / 10,
                note=note or "核对证单、唛头与批次；抽检中心温度，包装完好无破损",
            ),
        )

    def disinfect(self, key: str) -> None:
        site = self.site_of(key)
        inventory.disinfect(
            self.uow(),
            self.who["keeper"],
            self.lots[key],
            DisinfectIn(
                certificate_no=f"XD-{site.city_code}-{self.clock.today:%y%m%d}-{digits(self.rng, 3)}",
                valid_until=self.clock.today + timedelta(days=90),
                disinfectant="过氧乙酸 0.2%（外包装喷雾）",
                note="进口冷链食品外包装预防性消毒，作用 30 分钟后入库",
            ),
        )

    def photograph(self, key: str, *, seed: int) -> None:
        """Photos of the stacked pallets and a carton label, and the quarantine certificate."""
        plan = self.plans[key]
        self.photo_of_stacks(key, seed=seed)
        self._attach(key, label_photo(seed, plan.band), AttachmentPurpose.PHOTO, f"{key}-唛头.png")
        if plan.imported:
            with self.database.reading() as session:
                lot = session.get_one(Lot, self.lots[key])
                number, batch = lot.quarantine_cert_no or "", lot.batch_number
            pdf = certificate_pdf(
                "Entry Goods Inspection and Quarantine Certificate",
                [
                    f"Certificate No. {number}",
                    f"Goods: {plan.name_en}",
                    f"Country of origin: {plan.origin}    Establishment: {plan.plant or '-'}",
                    f"Batch: {batch}    Cartons: {plan.cartons}",
                    f"Net weight: {plan.declared_g / 1000:,.1f} kg",
                    "Result: the goods passed inspection and quarantine and may be sold or used.",
                ],
            )
            self._attach(key, pdf, AttachmentPurpose.CERTIFICATE, f"入境货物检验检疫证明-{number}.pdf")

    def photo_of_stacks(self, key: str, *, seed: int, by: str = "keeper") -> None:
        plan = self.plans[key]
        self._attach(key, pallet_photo(seed, plan.band), AttachmentPurpose.PHOTO, f"{key}-垛位.png", by=by)

    def _attach(
        self, key: str, content: bytes, purpose: AttachmentPurpose, name: str, *, by: str = "keeper"
    ) -> None:
        inventory.attach(
            self.uow(),
            self.who[by],
            self.store,
            self.lots[key],
            io.BytesIO(content),
            purpose=purpose,
            original_name=name,
            operation_id=None,
        )

    def check_in(self, key: str, *, seed: int) -> None:
        """The inbound check a receipt needs: weighed, inspected, disinfected if imported,
        photographed. Sealing is the supervisor's step."""
        self.clock.later(40)
        self.weigh(key)
        self.clock.later(70)
        self.inspect(key)
        if self.plans[key].imported:
            self.clock.later(45)
            self.disinfect(key)
        self.clock.later(20)
        self.photograph(key, seed=seed)

    # --- seals and counts -------------------------------------------------------------------------

    def seal_number(self, site: Site) -> str:
        serial = self._seal_serials.get(site.city_code, 412_030 if site.city_code == "SH" else 208_110) + 1
        self._seal_serials[site.city_code] = serial
        return f"ZC{site.city_code}-{serial:07d}"

    def seal(self, key: str, *, note: str = "监管封签，质押期间非经放货指令不得启封") -> None:
        site = self.site_of(key)
        inventory.seal_lot(
            self.uow(),
            self.who[site.sealer],
            self.lots[key],
            SealIn(numbers=[self.seal_number(site)], note=note),
        )
        self.counted[key] = self.arrived[key]

    def seal_room(self, room: str, *, note: str) -> None:
        """封仓: seal the room's doors, keeping a snapshot of the stock inside; its lots are then
        counted through the weekly stocktake like sealed lots."""
        site = self.sites[self.room_site[room]]
        inventory.seal_room(
            self.uow(),
            self.who[site.sealer],
            self.rooms[room],
            SealIn(numbers=[self.seal_number(site)], note=note),
        )
        for key, plan in self.plans.items():
            if plan.room == room and key in self.lots:
                self.counted[key] = self.arrived[key]

    def unseal_room(self, room: str, reason: str) -> None:
        site = self.sites[self.room_site[room]]
        inventory.unseal_room(self.uow(), self.who[site.sealer], self.rooms[room], UnsealIn(reason=reason))

    def unseal(self, key: str, reason: str) -> None:
        inventory.unseal_lot(
            self.uow(), self.who[self.site_of(key).sealer], self.lots[key], UnsealIn(reason=reason)
        )

    def count(self, key: str, *, weeks: int, cartons_short: int = 0, note: str | None = None) -> None:
        """A stocktake: frozen goods in cartons dry out slowly, so the count drifts a little below
        the book weight, well inside the policy's tolerance."""
        site = self.site_of(key)
        expected_g, cartons = self.stock(key)
        loss_tenth_bp = weeks * 12 + self.rng.randint(-15, 20)
        counted_g = round_to(expected_g - expected_g * loss_tenth_bp // 100_000, 100)
        if cartons_short:
            counted_g -= cartons_short * self.plans[key].declared_g // self.plans[key].cartons
        inventory.stocktake(
            self.uow(),
            self.who[site.sealer],
            self.lots[key],
            StocktakeIn(
                counted_g=counted_g,
                counted_cartons=cartons - cartons_short,
                note=note or "周盘点：封签完好，逐垛点数并抽称，账实相符",
            ),
        )

    # --- receipts ---------------------------------------------------------------------------------

    def draft(self, key: str, *, insured: bool = False, storage_days: int = 180) -> int:
        verified, cartons = self.stock(key)
        storage_end = self.clock.today + timedelta(days=storage_days)
        insurance: dict[str, object] = {}
        if insured:
            # Insure the goods' market value, rounded up to ten thousand yuan.
            fen_per_kg = PRICE_FEN_PER_KG[self.plans[key].commodity]
            insurance = {
                "insurer_org_id": self.orgs["insurer"],
                "insured_amount_fen": -(-verified * fen_per_kg // 1000 // 1_000_000) * 1_000_000,
                "insurance_until": storage_end,
            }
        receipt = receipts.create_draft(
            self.uow(),
            self.who["keeper"],
            ReceiptCreateIn.model_validate(
                {
                    "lot_id": self.lots[key],
                    "quantity_g": verified,
                    "cartons": cartons,
                    "storage_period_end": storage_end,
                    "storage_fee_note": "仓储费 1.50 元/吨/天，含出入库装卸",
                    "loss_standard": "冻品干耗 ≤ 0.2%/月",
                    **insurance,
                }
            ),
        )
        self.receipts[key] = receipt.id
        return receipt.id

    def submit(self, key: str) -> None:
        receipts.submit(self.uow(), self.who["keeper"], self.receipts[key], NoteIn(note="存货人申请开立仓单"))

    def issue(self, key: str, *, insured: bool = False) -> int:
        """Draft, submit and sign the receipt for the lot's whole verified stock."""
        self.draft(key, insured=insured)
        self.clock.later(10)
        self.submit(key)
        self.clock.later(20)
        receipts.issue(
            self.uow(), self.who["keeper"], self.receipts[key], NoteIn(note="入库核验完成，签发仓单")
        )
        return self.receipts[key]

    def request_pledge(self, key: str, *, holder: str, bank: str, note: str) -> None:
        receipts.request_pledge(
            self.uow(),
            self.who[holder],
            self.receipts[key],
            PledgeRequestIn(pledgee_org_id=self.orgs[bank], note=note),
        )

    def accept_pledge(self, key: str, *, bank: str, contract: str) -> None:
        receipts.accept_pledge(
            self.uow(),
            self.who[bank],
            self.receipts[key],
            PledgeAcceptIn(
                registration_no=f"{self.clock.today:%Y%m}{digits(self.rng, 14)}",
                note=f"动产融资统一登记公示系统已登记；主合同 {contract}",
            ),
        )


def round_to(grams: int, step: int) -> int:
    """``grams`` to the nearest ``step``, as a scale with that resolution shows it."""
    return (grams + step // 2) // step * step
