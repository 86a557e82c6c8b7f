"""The demo story, week by week, over the two months before now.

上海鲜丰 (borrower) pledges Spanish pork, Brazilian and Australian beef to 浙商银行 (bank) in
Yangshan; 天津海润 (borrower2) pledges Danish pork and Brazilian beef to 宁波银行 (bank2) in
Dongjiang. Each borrower has a credit line with its bank (``lending``): contracts on file, the
pledged receipts attached, drawdowns within the pledge rate, interest accrued every night, the
collateral marked to market every business afternoon at the prices the operator keeps
(``prices``, ``rounds``). Along the way: a pledge request refused for a missing residue test, a
release refused until the margin arrives and then, after a repayment, executed within the pledge
rate, a loan repaid and its goods delivered, a receipt split for two loans, a lost receipt
replaced, a court freeze, a lab hold, weekly stocktakes (one short by a carton, found the next
day) and a change of policy. In the last fortnight imported beef falls by nearly a quarter:
上海鲜丰's line goes into warning, then under a margin call. It ends on the last morning before
now with requests waiting for both banks, among them 上海鲜丰's shrimp offered in pledge to cure
the call.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from coldpledge.inventory.models import InspectionResult
from coldpledge.receipts import releases
from coldpledge.receipts import service as receipts
from coldpledge.receipts.schemas import (
    CollectionIn,
    DeliveryRequestIn,
    NoteIn,
    OutboundIn,
    ReasonIn,
    ReleaseRequestIn,
    SplitIn,
    SplitPart,
)
from coldpledge.seed import goods, lending
from coldpledge.seed.identifiers import resident_id
from coldpledge.seed.prices import PriceDesk
from coldpledge.seed.rounds import DailyRound
from coldpledge.seed.scene import LotPlan, Scene, round_to
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.schemas import PolicyIn

# Stocktakes are on Wednesdays; a lot is first counted once it has been in for this many days.
STOCKTAKE_DAYS = (9, 16, 23, 30, 37, 44, 51, 58)
SETTLE_DAYS = 5
SEALED_ROOM = "DJ-F18-2"
YUAN = lending.YUAN
# The credit agreement each bank lends under.
_contract = lending.credit_agreement


def play(scene: Scene) -> None:
    desk = PriceDesk(scene)
    desk.set_up()
    scene.clock.keep(DailyRound(scene, desk, first_day=1))
    _first_containers(scene)
    _more_goods(scene)
    _margin_and_partial_release(scene)
    _repayment_delivery_and_split(scene)
    _loss_variance_and_freeze(scene)
    _latest_arrivals(scene)
    _today(scene)


def _arrive(scene: Scene, day: int, at: str, plan: LotPlan, *, seed: int, seal: bool = True) -> None:
    """A container arrives, is checked in and, once the check is done, sealed by the supervisor."""
    scene.clock.on(day, at)
    scene.receive(plan)
    scene.check_in(plan.key, seed=seed)
    if seal:
        scene.clock.later(30)
        scene.seal(plan.key)


def _first_containers(scene: Scene) -> None:
    """Week 1: the first containers; both borrowers apply for credit lines and the banks open
    them; receipts issued and offered in pledge; the banks accept, attach them to the lines and
    lend against them."""
    clock = scene.clock
    _arrive(scene, 1, "08:10", goods.PORK_ES, seed=1)
    lending.apply(scene, "bank", day=1, at="15:10", note="申请一年期流动资金授信，以洋山冷库进口冻品仓单质押")
    _arrive(scene, 2, "08:30", goods.BEEF_BR, seed=2)
    lending.open_line(scene, "bank", day=2, at="14:20")
    lending.apply(
        scene, "bank2", day=2, at="16:00", note="申请一年期流动资金授信，以东疆冷库进口冻品仓单质押"
    )
    _arrive(scene, 3, "08:05", goods.PORK_DK, seed=3)
    lending.open_line(scene, "bank2", day=3, at="14:30")

    clock.on(4, "09:00")
    scene.issue("pork-es", insured=True)
    clock.later(20)
    scene.issue("beef-br", insured=True)
    clock.later(30)
    scene.issue("pork-dk", insured=True)
    clock.on(4, "14:10")
    scene.request_pledge(
        "pork-es", holder="borrower", bank="bank", note=f"为 {_contract(scene, 'bank')} 项下借款提供质押"
    )
    clock.later(5)
    scene.request_pledge(
        "beef-br", holder="borrower", bank="bank", note=f"为 {_contract(scene, 'bank')} 项下借款提供质押"
    )
    clock.later(40)
    scene.request_pledge(
        "pork-dk", holder="borrower2", bank="bank2", note=f"为 {_contract(scene, 'bank2')} 项下借款提供质押"
    )

    clock.on(7, "10:20")
    scene.accept_pledge("pork-es", bank="bank", contract=_contract(scene, "bank"))
    clock.later(12)
    scene.accept_pledge("beef-br", bank="bank", contract=_contract(scene, "bank"))
    lending.attach(scene, "bank", ["pork-es", "beef-br"], day=7, at="10:50")
    lending.draw(
        scene,
        "bank",
        "xianfeng-1",
        amount_fen=850_000 * YUAN,
        purpose="支付西班牙冻猪肉及巴西冻牛肉进口货款",
        day=7,
        times=("11:10", "13:40", "14:20"),
    )
    clock.on(7, "15:05")
    scene.accept_pledge("pork-dk", bank="bank2", contract=_contract(scene, "bank2"))
    lending.attach(scene, "bank2", ["pork-dk"], day=7, at="15:40")

    _arrive(scene, 8, "08:20", goods.BEEF_AR, seed=4)
    lending.deposit(scene, "bank2", 25_000 * YUAN, day=8, at="13:30", note="首笔用款前存入 10% 保证金")
    lending.draw(
        scene,
        "bank2",
        "hairun-1",
        amount_fen=250_000 * YUAN,
        purpose="支付丹麦冻猪肉进口货款",
        day=8,
        times=("13:50", "14:30", "15:00"),
    )
    _arrive(scene, 9, "07:50", goods.BEEF_BR_HAIRUN, seed=5)
    _stocktake(scene, 9)
    _arrive(scene, 10, "08:15", goods.BEEF_AU, seed=6)

    clock.on(11, "09:10")
    scene.issue("beef-ar", insured=True)
    clock.later(15)
    scene.issue("beef-br-hairun", insured=True)
    clock.on(11, "13:40")
    scene.request_pledge(
        "beef-ar",
        holder="borrower",
        bank="bank",
        note=f"为 {_contract(scene, 'bank')} 项下第二笔借款提供质押",
    )
    clock.later(35)
    scene.request_pledge(
        "beef-br-hairun",
        holder="borrower2",
        bank="bank2",
        note=f"为 {_contract(scene, 'bank2')} 项下借款追加质押",
    )


def _more_goods(scene: Scene) -> None:
    """Weeks 2-3: bank2 wants a residue test before it takes the Brazilian beef; 东疆 A2 is
    filled and sealed as a whole room; shrimp and Brazilian pork arrive in Yangshan."""
    clock = scene.clock
    clock.on(14, "09:45")
    scene.accept_pledge("beef-ar", bank="bank", contract=_contract(scene, "bank"))
    clock.on(14, "11:20")
    receipts.reject_pledge(
        scene.uow(),
        scene.who["bank2"],
        scene.receipts["beef-br-hairun"],
        ReasonIn(reason="检验报告未列明兽药残留（莱克多巴胺等）检测项目，请补充后重新申请"),
    )
    lending.attach(scene, "bank", ["beef-ar"], day=14, at="11:40")
    lending.draw(
        scene,
        "bank",
        "xianfeng-2",
        amount_fen=550_000 * YUAN,
        purpose="支付阿根廷冻牛腱进口货款及关税",
        day=14,
        times=("13:30", "14:30", "15:00"),
    )

    _arrive(scene, 15, "08:20", goods.BEEF_UY, seed=7, seal=False)
    _arrive(scene, 15, "13:00", goods.PORK_NL, seed=8, seal=False)
    clock.on(15, "16:30")
    scene.seal_room(SEALED_ROOM, note="A2 冷冻间整间封仓（静态质押），钥匙由监管方保管")

    clock.on(16, "08:40")
    scene.inspect(
        "beef-br-hairun",
        agency="CCIC TJ",
        note="补充检测：莱克多巴胺、克伦特罗、沙丁胺醇均未检出，合格",
    )
    clock.on(16, "09:10")
    scene.request_pledge(
        "beef-br-hairun", holder="borrower2", bank="bank2", note="已补充兽药残留检测报告，重新申请质押"
    )
    _stocktake(scene, 16)

    clock.on(17, "08:45")
    scene.accept_pledge("beef-br-hairun", bank="bank2", contract=_contract(scene, "bank2"))
    clock.on(17, "09:00")
    scene.issue("beef-au", insured=True)
    clock.later(10)
    scene.issue("beef-uy")
    clock.later(10)
    scene.issue("pork-nl")
    clock.on(17, "14:20")
    scene.request_pledge(
        "beef-au",
        holder="borrower",
        bank="bank",
        note=f"为 {_contract(scene, 'bank')} 项下第三笔借款提供质押",
    )
    lending.attach(scene, "bank2", ["beef-br-hairun"], day=17, at="14:40")
    lending.draw(
        scene,
        "bank2",
        "hairun-2",
        amount_fen=400_000 * YUAN,
        purpose="支付巴西冻牛臀肉进口货款",
        day=17,
        times=("15:00", "16:00", "16:30"),
    )
    clock.on(18, "10:05")
    scene.accept_pledge("beef-au", bank="bank", contract=_contract(scene, "bank"))
    lending.attach(scene, "bank", ["beef-au"], day=18, at="10:20")
    lending.draw(
        scene,
        "bank",
        "xianfeng-3",
        amount_fen=550_000 * YUAN,
        purpose="支付澳大利亚谷饲牛肉进口货款",
        day=18,
        times=("10:40", "14:00", "14:30"),
    )

    _arrive(scene, 21, "08:00", goods.SHRIMP_EC, seed=9)
    _arrive(scene, 22, "08:25", goods.PORK_BR, seed=10)
    _stocktake(scene, 23)
    clock.on(24, "09:00")
    scene.issue("shrimp-ec")
    clock.later(10)
    scene.issue("pork-br")


def _margin_and_partial_release(scene: Scene) -> None:
    """Weeks 4-5: the borrower asks to take 8 t of brisket out before paying for them and is
    refused; after a part repayment 6 t go out against an approved release, within the pledge
    rate at the day's price (checked when asked and again when approved)."""
    clock = scene.clock
    clock.on(24, "14:00")
    refused, _ = releases.request_release(
        scene.uow(),
        scene.who["borrower"],
        scene.receipts["beef-br"],
        _collection(scene, "沪B·D5821", "王建军", quantity_g=8_000_000, cartons=320, days=3),
    )
    clock.on(25, "09:30")
    releases.reject(
        scene.uow(),
        scene.who["bank"],
        refused.id,
        ReasonIn(reason="保证金尚未到账，暂不同意放货；请先补足保证金或部分还款"),
    )

    repaid = lending.repay(
        scene,
        "bank",
        "xianfeng-1",
        200_000 * YUAN,
        day=28,
        at="08:40",
        note="打款赎货：部分归还本金，申请释放巴西牛胸肉 6 吨",
    )
    clock.on(28, "09:10")
    collection = _collection(scene, "沪B·D5821", "王建军", quantity_g=6_000_000, cartons=240, days=3)
    release, _ = releases.request_release(
        scene.uow(), scene.who["borrower"], scene.receipts["beef-br"], collection
    )
    clock.on(28, "10:40")
    _, code = releases.approve(
        scene.uow(),
        scene.who["bank"],
        release.id,
        NoteIn(
            note=f"已收到借据 {lending.drawdown_code(scene, 'xianfeng-1')} 部分还款 ¥{repaid // YUAN:,}"
            "（打款赎货），按今日价格放货后 LTV 仍在质押率以内，同意释放 6 吨"
        ),
    )
    clock.on(29, "08:50")
    scene.unseal("beef-br", reason=f"按放货指令 #{release.id} 部分出库")
    clock.later(40)
    _outbound(scene, "beef-br", release.id, code, collection, net_g=5_988_600, cartons=240, tare_g=8_460_000)
    clock.later(50)
    scene.seal("beef-br", note="部分出库后余货重新施封")
    _stocktake(scene, 30)


def _repayment_delivery_and_split(scene: Scene) -> None:
    """Weeks 5-6: the Argentine beef loan is repaid, its receipt let go from the credit line, the
    pledge discharged and the goods delivered; the bank splits the Australian beef receipt for two
    loans."""
    clock = scene.clock
    lending.repay(
        scene, "bank", "xianfeng-2", None, day=32, at="09:00", note="阿根廷牛腱已售出，提前结清该笔借款本息"
    )
    lending.detach(scene, "bank", "beef-ar", day=32, at="09:40")
    clock.on(32, "10:00")
    receipts.discharge(
        scene.uow(),
        scene.who["bank"],
        scene.receipts["beef-ar"],
        NoteIn(note="借款人已结清该笔贷款本息，解除质押"),
    )
    clock.on(32, "14:30")
    pickup = DeliveryRequestIn.model_validate(_collection_fields(scene, "沪D·F2290", "刘海涛", days=4))
    delivery, code = releases.request_delivery(
        scene.uow(), scene.who["borrower"], scene.receipts["beef-ar"], pickup
    )
    assert code is not None  # a delivery is approved as it is requested
    clock.on(35, "08:40")
    scene.unseal("beef-ar", reason=f"质押已解除，按提货指令 #{delivery.id} 整批出库")
    clock.later(40)
    net_g, cartons = scene.stock("beef-ar")
    _outbound(scene, "beef-ar", delivery.id, code, pickup, net_g=net_g, cartons=cartons, tare_g=15_260_000)
    del scene.counted["beef-ar"]

    clock.on(36, "09:00")
    scene.unseal("beef-au", reason="质权人申请拆分仓单，启封分垛")
    clock.later(60)
    quantity, cartons = scene.stock("beef-au")
    first = round_to(quantity * 450 // cartons, 100)
    parts = receipts.split(
        scene.uow(),
        scene.who["bank"],
        scene.receipts["beef-au"],
        SplitIn(
            parts=[
                SplitPart(quantity_g=first, cartons=450),
                SplitPart(quantity_g=quantity - first, cartons=cartons - 450),
            ],
            note="按两笔流动资金贷款分别质押，拆分为两张仓单",
        ),
    )
    del scene.counted["beef-au"]
    for number, part in enumerate(parts, start=1):
        key = f"beef-au-{number}"
        scene.plans[key] = replace(goods.BEEF_AU, key=key, cartons=part.cartons, declared_g=part.quantity_g)
        scene.lots[key], scene.receipts[key] = part.lot_id, part.id
        scene.arrived[key] = scene.arrived["beef-au"]
        clock.later(20)
        scene.photo_of_stacks(key, seed=20 + number, by="inspector")
        clock.later(10)
        scene.seal(key, note="拆分后分垛重新施封")
    _stocktake(scene, 37)


def _loss_variance_and_freeze(scene: Scene) -> None:
    """Weeks 7-8: a paper receipt is lost and replaced; a stocktake finds a carton short and the
    recount finds it; a court freezes a receipt; the supervisor revises the Yangshan policy."""
    clock = scene.clock
    clock.on(42, "10:15")
    lost = scene.receipts["pork-br"]
    receipts.report_loss(
        scene.uow(),
        scene.who["borrower"],
        lost,
        ReasonIn(reason="仓单正本在办公室搬迁中遗失，已于《新民晚报》登报声明作废"),
    )
    lending.draw(
        scene,
        "bank",
        "xianfeng-4",
        amount_fen=None,
        purpose="补充流动资金（节前备货）",
        day=43,
        times=("10:30", "14:00", "14:30"),
    )
    _stocktake(scene, 44, short={"beef-br-hairun": 1})
    clock.on(45, "10:00")
    scene.count(
        "beef-br-hairun",
        weeks=(45 - scene.arrived["beef-br-hairun"]) // 7,
        note="复盘：差异 1 箱码放于相邻 A1-59 垛位，已归位，账实相符",
    )
    clock.on(45, "15:00")
    replacement = receipts.replace(
        scene.uow(),
        scene.who["keeper"],
        lost,
        ReasonIn(reason="遗失声明公告期满，核验存货人身份后补发新仓单，原仓单作废"),
    )
    scene.receipts["pork-br-lost"], scene.receipts["pork-br"] = lost, replacement.id

    clock.on(46, "11:00")
    receipts.freeze(
        scene.uow(),
        scene.who["admin"],
        scene.receipts["pork-nl"],
        ReasonIn(
            reason=f"依据天津市滨海新区人民法院（{clock.today.year}）津0116执保 1287 号协助执行通知书，"
            "冻结该仓单项下货物"
        ),
    )

    clock.on(49, "10:00")
    parameters = default_parameters(TemperatureClass.FROZEN).model_copy(update={"expiry_warning_days": 60})
    warehouses.set_policy(
        scene.uow(),
        scene.who["supervisor"],
        scene.vws["yangshan"],
        PolicyIn(
            parameters=parameters,
            reason="三方协议补充条款：冷冻间与深冷间统一以 -18 °C 为温度警戒线；临期预警提前至 60 天",
        ),
    )
    _stocktake(scene, 51)


def _latest_arrivals(scene: Scene) -> None:
    """Week 9: 天津海润's shrimp is held for a lab test while its receipt waits for the check;
    more Spanish pork arrives and the keeper drafts its receipt."""
    clock = scene.clock
    clock.on(56, "08:10")
    scene.receive(goods.SHRIMP_EC_HAIRUN)
    clock.later(45)
    scene.weigh("shrimp-ec-hairun")
    clock.later(30)
    scene.draft("shrimp-ec-hairun")
    clock.later(10)
    scene.submit("shrimp-ec-hairun")
    clock.later(60)
    scene.inspect(
        "shrimp-ec-hairun",
        InspectionResult.HOLD,
        agency="洋山海关技术中心",
        note="抽样送检（氯霉素、硝基呋喃类代谢物），待实验室结果",
    )
    clock.later(20)
    scene.photograph("shrimp-ec-hairun", seed=11)

    _arrive(scene, 57, "08:30", goods.PORK_ES_SHOULDER, seed=12)
    _stocktake(scene, 58)
    clock.on(58, "16:40")
    scene.draft("pork-es-shoulder", insured=True)


def _today(scene: Scene) -> None:
    """The last morning: chilled chicken comes in, and both borrowers leave requests waiting for
    their banks: 上海鲜丰, under a margin call since beef fell, offers its shrimp in pledge to cure
    it; 天津海润, whose line is well covered, asks to release part of its Danish pork."""
    clock = scene.clock
    day = clock.last_morning
    clock.on(day, "07:40")
    scene.receive(goods.CHICKEN_CN, note="国产冰鲜鸡，随车附动物检疫合格证明")
    scene.check_in("chicken-cn", seed=13)
    clock.on(day, "10:20")
    call = lending.open_margin_call(scene, "bank")
    notice = f"按追加担保通知 {call} " if call else ""
    scene.request_pledge(
        "shrimp-ec",
        holder="borrower",
        bank="bank",
        note=f"进口冻牛肉价格下跌，{notice}追加质押，补足 {_contract(scene, 'bank')} 项下担保",
    )
    clock.on(day, "10:45")
    releases.request_release(
        scene.uow(),
        scene.who["borrower2"],
        scene.receipts["pork-dk"],
        _collection(scene, "津C·D0217", "马志刚", quantity_g=6_500_000, cartons=325, days=3),
    )


# --- helpers ----------------------------------------------------------------------------------


def _stocktake(scene: Scene, day: int, *, short: dict[str, int] | None = None) -> None:
    """The weekly count: the inspector in Yangshan after lunch, then the supervision manager in
    Dongjiang, opening the sealed room and sealing it again with a new seal."""
    assert day in STOCKTAKE_DAYS
    short = short or {}
    due = {key: arrived for key, arrived in scene.counted.items() if day - arrived >= SETTLE_DAYS}
    for site, start in (("yangshan", "13:00"), ("dongjiang", "14:45")):
        keys = [key for key in due if scene.room_site[scene.plans[key].room] == site]
        if not keys:
            continue
        scene.clock.on(day, start)
        in_sealed_room = [key for key in keys if scene.plans[key].room == SEALED_ROOM]
        if in_sealed_room:
            scene.unseal_room(SEALED_ROOM, reason="周盘点开仓")
            scene.clock.later(10)
        for key in keys:
            shortage = short.get(key, 0)
            scene.count(
                key,
                weeks=(day - due[key]) // 7,
                cartons_short=shortage,
                note=f"周盘点：实点少 {shortage} 箱，待复盘" if shortage else None,
            )
            scene.clock.later(15)
        if in_sealed_room:
            scene.seal_room(SEALED_ROOM, note="盘点完毕，重新封仓")


def _collection_fields(scene: Scene, plate: str, collector: str, *, days: int) -> dict[str, object]:
    born = date(1978, 1, 1) + timedelta(days=scene.rng.randrange(0, 365 * 15))
    return {
        "vehicle_plate": plate,
        "collector_name": collector,
        "collector_id_no": resident_id("310115" if plate.startswith("沪") else "120116", born, scene.rng),
        "valid_until": scene.clock() + timedelta(days=days),
    }


def _collection(
    scene: Scene, plate: str, collector: str, *, quantity_g: int, cartons: int, days: int
) -> ReleaseRequestIn:
    return ReleaseRequestIn.model_validate(
        {
            **_collection_fields(scene, plate, collector, days=days),
            "quantity_g": quantity_g,
            "cartons": cartons,
        }
    )


def _outbound(
    scene: Scene,
    key: str,
    release_id: int,
    code: str,
    collection: CollectionIn,
    *,
    net_g: int,
    cartons: int,
    tare_g: int,
) -> None:
    """The truck named in the instruction is weighed out at the gate, its driver showing the
    one-time code and the ID card named in the instruction."""
    site = scene.site_of(key)
    releases.execute_outbound(
        scene.uow(),
        scene.who["keeper"],
        scene.lots[key],
        OutboundIn(
            release_id=release_id,
            release_code=code,
            gross_g=net_g + tare_g,
            tare_g=tare_g,
            weigh_ticket_no=f"GT-{site.city_code}-{scene.clock.today:%y%m%d}-{scene.rng.randrange(100, 999)}",
            scale_ref=f"{site.city_code}-WB-01",
            collector_id_no=collection.collector_id_no,
            cartons=cartons,
            vehicle_plate=collection.vehicle_plate,
            note="核验放货指令、车牌与提货人身份证后出库",
        ),
    )
