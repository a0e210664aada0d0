"""The synthetic district: tickets and their event histories in the sample export format.

Deterministic for a seed, streamed row by row (bounded memory, so it scales to the 2,000,000
tickets of the benchmarks), and written through the same export format and importer a real
platform's file would take.  A few units are persistently poor, so the escalation ladder has
something to do; the lifecycle includes returns (once and twice), late returns, extensions,
plans, review send-backs, unsatisfied callbacks and redos.

With ``stories=True`` (the demo, ``hotline demo-data``) the district also has the patterns the
random flow is too thin to make, each on tickets of its own (numbered from ``9000000`` within the
day) drawn from a random stream of its own, so the ordinary tickets are the same with or without
them: a caller who rings every few days (反复性, same caller), neighbours reporting one broken street
lamp (反复性, same address and category), an inn inspected again and again (屡次不改 in the law
reports, a tourism clue with a repeat), a power cut over 14 streets in one week (普遍性: the class-A
alert), a group wage claim with the workers gathering (敏感 by 群体性苗头), national or provincial tickets answered 情况不属实,
不在受理范围 or 列入计划 (their per-ticket reports), and two enforcement units rated A and C by the
quarterly report (the random flow rates B and D).  ``STORIES`` says when each recurs.
"""
from __future__ import annotations

import csv
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from .calendar import WorkCalendar
from .config import PROJECT_ROOT, read_yaml
from .importer import Mapping

# Which departments a category's tickets go to (by the category's top-level code); territorial
# matters also go to the street of the address.
ROUTING = {
    "01": ["D10", "D08"], "02": ["D20", "D21"], "03": ["D07", "D19", "D04"], "04": ["D02"], "05": ["D11"],
    "06": ["D09"], "07": ["D16", "D03"], "08": ["D14"], "09": ["D22", "D26"], "10": ["D18"],
    "11": ["D05"], "20": ["D21", "D18", "D20", "D09", "D23"],
}
TERRITORIAL = {"01", "02", "06", "09"}
POOR_UNITS = ("D20", "S05", "D10")
TEXTS = {
    "0101": "反映{addr}小区物业公司长期不打扫楼道，电梯经常故障无人维修，要求物业履行职责。",
    "0102": "反映{addr}新购住房墙体开裂、渗水，开发商拒绝维修，请求相关部门协调处理。",
    "0103": "反映{addr}附近工地夜间施工，噪声严重影响休息，要求查处。",
    "0201": "反映{addr}路口长期有流动摊贩占道经营，影响通行，要求整治。",
    "0202": "反映{addr}有住户在楼顶违章搭建彩钢房，存在安全隐患，要求拆除。",
    "0203": "反映{addr}垃圾桶满溢多日无人清运，气味难闻，要求及时清理。",
    "0204": "反映{addr}路灯损坏多日，夜间行人出行不便，要求尽快维修。",
    "0301": "咨询灵活就业人员社保缴费基数及补缴办理流程。",
    "0302": "反映在{addr}某工地务工，工资被拖欠三个月未发放，请求帮助讨薪。",
    "0303": "反映门诊慢特病医保报销比例与政策不符，要求核实。",
    "0401": "咨询今年小学入学片区划分及随迁子女入学所需材料。",
    "0402": "反映{addr}有校外培训机构违规收费且拒不退费。",
    "0501": "建议在{addr}增设公交站点，方便居民出行。",
    "0502": "反映出租车司机拒载、绕路，要求处理。",
    "0601": "反映{addr}附近企业夜间排放刺激性气体，要求环保部门查处。",
    "0602": "反映{addr}河道有污水直排，水体发黑发臭。",
    "0701": "反映{addr}餐馆使用液化气罐存在泄漏隐患，请求尽快检查。",
    "0702": "反映{addr}楼道堆放杂物堵塞消防通道。",
    "0801": "反映景区门票价格与公示不符，工作人员态度恶劣。",
    "0802": "反映参加旅行社组团游被强制购物，要求退款。",
    "0901": "反映{addr}突然停水，未提前通知，要求尽快恢复供水。",
    "0902": "反映{addr}频繁停电，影响正常生活和经营。",
    "1001": "反映{addr}某饭店食品不卫生，食用后出现腹泻。",
    "1002": "反映在{addr}某商场购买的家电存在质量问题，商家拒绝退换。",
    "2001": "反映执法人员在{addr}处罚时未出示证件，处罚依据不明。",
    "200101": "反映{addr}个体商户被执法部门以同一事由重复罚款。",
    "2002": "反映执法部门扣押车辆后长期未作出处理决定。",
    "200201": "反映企业厂房被查封，未收到任何书面决定。",
    "2003": "反映行政许可申请超过法定期限仍未办结。",
    "2004": "反映房屋征收补偿标准不透明，要求公开依据。",
    "2005": "反映办理证照时被收取未公示的费用。",
    "200501": "反映企业被要求缴纳无依据的检测费用。",
    "2006": "反映企业一个月内被多个部门重复检查，影响经营。",
    "200601": "反映执法人员频繁入企检查，每次均要求企业提供大量材料。",
    "200602": "反映外地执法人员未经通报到本区企业查扣财物。",
    "200603": "反映执法部门以罚代管，下达罚款指标。",
    "2007": "反映投诉执法问题后长期无人处理。",
    "2099": "反映执法过程中态度粗暴、程序不规范。",
    "1101": "咨询邻里纠纷如何申请法律援助。",
}
ROADS = ["迎春大街", "观海路", "港城东大街", "金都路", "山海路", "滨海中路", "桐林路", "盛泉路", "杰瑞路", "清泉路"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"
REASONS = ["该事项不属于本单位职责，建议转属地街道办理", "经核实诉求地点不在本辖区", "该事项属于行业监管范围，建议转主管部门"]
CHANNEL_WEIGHTS = [("city", 70), ("provincial", 12), ("national", 3), ("enterprise_city", 10), ("enterprise_provincial", 5)]


@dataclass
class Directory:
    streets: list[str]
    categories: list[tuple[str, bool, bool]]  # code, law_enforcement, should_handle
    urgent: dict[str, str]
    contacts: dict[str, tuple[str, str]]      # unit → (who calls the callers, the office number)


def load_directory_data(path: Path | None = None) -> Directory:
    data = read_yaml(path or PROJECT_ROOT / "db" / "seed" / "district.yaml")
    streets = [u["code"] for u in data["units"] if u["kind"] == "territorial"]
    cats = [(str(c["code"]), bool(c.get("law_enforcement")), bool(c.get("should_handle", True)))
            for c in data["categories"] if str(c["code"]) in TEXTS]
    urgent = {str(c["code"]): c["urgent_kind"] for c in data["categories"] if c.get("urgent_kind")}
    liaisons = {p["unit"]: p["name"] for p in data["people"] if p["role"] == "liaison"}
    contacts = {u["code"]: (liaisons.get(u["code"], "值班人员"), f"0535-{6600101 + 100 * i}")
                for i, u in enumerate(data["units"])}
    return Directory(streets, cats, urgent, contacts)


@dataclass(frozen=True)
class Story:
    """Tickets that recur on a pattern: from ``first`` days after the span's start, every ``every``
    days (``days`` fixed offsets from the start of the span instead, when given)."""
    name: str
    category: str
    content: str
    source: str = "city"
    first: int = 0
    every: int = 7
    address: str | None = None         # one address for all its tickets, else each caller's own
    street: str | None = None
    same_caller: bool = False          # one caller for all its tickets, else a new one each time
    category_cycle: tuple[str, ...] = ()   # the same caller about several matters, in turn
    reply_kind: str | None = None
    wave: bool = False                 # one ticket per street, dispatched to the street itself
    unit: str | None = None            # the unit that handles every ticket (no return), else by routing
    outcomes: tuple[tuple[bool, bool, bool], ...] = ()   # (late, satisfied, resolved), in turn


# When each story recurs, and what it shows (see the module's docstring); repeats are counted over
# 30 days (config/metrics.yaml repeat), the law reports by month and quarter.
STORIES = (
    Story("反复来电", "0101", "", first=2, every=6, address="清泉路27号", street="S05", same_caller=True,
          category_cycle=("0101", "0203", "0702")),
    Story("同址同类", "0204", "反映{addr}门口路灯已坏多日，夜间漆黑，老人出行摔倒，此前已有邻居反映，至今未修。",
          first=4, every=9, address="港城东大街66号", street="S03"),
    Story("屡次不改", "200601", "反映执法人员频繁到{addr}民宿检查，一个月内检查多次，每次均要求提供大量材料，影响游客接待。",
          source="enterprise_city", first=3, every=8, address="金都路88号", street="S07"),
    Story("普遍性停电", "0902", "反映受大风天气影响，{addr}一带自昨晚起停电，至今未恢复供电，影响生活。", wave=True),
    Story("群体讨薪", "0302", "反映{addr}某工地三十余名农民工群体讨薪，工资被拖欠四个月，工人已在工地门口聚集，要求尽快协调解决。", first=10, every=21),
    Story("不属实", "0601", "反映{addr}附近企业夜间排放刺激性气体，要求环保部门查处。", source="national", first=5,
          every=21, reply_kind="not_true"),
    Story("不在受理范围", "2004", "反映企业厂房征收补偿纠纷已进入诉讼程序，要求热线督促加快补偿。",
          source="enterprise_provincial", first=12, every=21, reply_kind="out_of_scope"),
    Story("列入计划", "0501", "", source="national", first=8, every=21, reply_kind="planned"),
    # Two enforcement units rated on these tickets alone (the ABCD rating of the law reports): one never
    # delayed, always resolved and satisfied (A); one leaving every third matter unresolved (C).
    Story("执法示范", "2001", "反映{addr}附近景区商户虚假宣传，要求文旅部门查处。", first=1, every=7, unit="D14",
          outcomes=((False, True, True),)),
    Story("执法一般", "2005", "", first=2, every=7, unit="D16",
          outcomes=((False, True, True), (False, True, True), (False, True, False))),
)
WAVE_WEEKS_BEFORE_END = 2   # the power cut: in the week starting this many Mondays before the span's end


class Generator:
    def __init__(self, cal: WorkCalendar, seed: int = 12345, per_day: int = 100, directory: Directory | None = None,
                 stories: bool = False):
        self.rng, self.seed = random.Random(seed), seed
        self.story_rng = random.Random(f"stories-{seed}")
        self.cal, self.per_day, self.stories = cal, per_day, stories
        self.dir = directory or load_directory_data()
        self.recent_callers: deque = deque(maxlen=500)
        self.count = 0
        self.story_count = 0

    def _caller(self) -> tuple[str, str, str, str]:
        r = self.rng
        if self.recent_callers and r.random() < 0.05:
            return self.recent_callers[r.randrange(len(self.recent_callers))]
        caller = self._new_caller(r)
        self.recent_callers.append(caller)
        return caller

    def _new_caller(self, r: random.Random) -> tuple[str, str, str, str]:
        street = r.choice(self.dir.streets)
        return (r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2)))),
                f"1{r.choice('3456789')}{r.randrange(10**9):09d}",
                f"{r.choice(ROADS)}{r.randrange(1, 300)}号", street)

    def _unit_for(self, code: str, street: str, exclude: str | None = None, r: random.Random | None = None) -> str:
        options = list(ROUTING[code[:2]]) + ([street] * 2 if code[:2] in TERRITORIAL else [])
        options = [o for o in options if o != exclude] or [street]
        return (r or self.rng).choice(options)

    def tickets(self, start: date, end: date, until: datetime) -> Iterator[list[dict]]:
        """Per ticket, its rows (one per event), tickets received from ``start`` to ``end``."""
        stories = self.story_days(start, end)
        day = start
        while day <= end:
            for _ in range(self.per_day):
                yield self._ticket(day, until)
            for story, street in stories.get(day, ()):
                yield self._story_ticket(day, story, street, until)
            day += timedelta(days=1)

    def count_for(self, start: date, end: date) -> int:
        """How many tickets ``tickets(start, end, …)`` yields."""
        return ((end - start).days + 1) * self.per_day + sum(map(len, self.story_days(start, end).values()))

    def story_days(self, start: date, end: date) -> dict[date, list[tuple[Story, str | None]]]:
        """Day → the story tickets received that day (with the street of a wave's ticket)."""
        out: dict[date, list[tuple[Story, str | None]]] = {}
        if not self.stories:
            return out
        for story in STORIES:
            if story.wave:
                monday = end - timedelta(days=end.weekday() + 7 * WAVE_WEEKS_BEFORE_END)
                for i, street in enumerate(self.dir.streets):
                    day = monday + timedelta(days=i % 3)   # Monday to Wednesday
                    if start <= day <= end:
                        out.setdefault(day, []).append((story, street))
                continue
            day = start + timedelta(days=story.first)
            while day <= end:
                out.setdefault(day, []).append((story, None))
                day += timedelta(days=story.every)
        return out

    def _story_ticket(self, day: date, story: Story, street: str | None, until: datetime) -> list[dict]:
        r = self.story_rng
        self.story_count += 1
        name, phone, addr, home = self._story_caller(story, r)
        street = street or story.street or home
        code = story.category
        if story.category_cycle:
            code = story.category_cycle[(day - date(2000, 1, 1)).days // story.every % len(story.category_cycle)]
        content = (story.content or TEXTS[code]).format(addr=addr)
        received = datetime.combine(day, datetime.min.time()) + timedelta(minutes=r.randrange(8 * 60, 20 * 60))
        should_handle = next((h for c, _law, h in self.dir.categories if c == code), True)
        outcome = story.outcomes[self.story_count % len(story.outcomes)] if story.outcomes else None
        return self._history({"number": f"{day:%Y%m%d}{9000000 + self.story_count:07d}", "received_at": received,
                              "source": story.source, "category_code": code, "urgent_kind": self.dir.urgent.get(code),
                              "content": content, "caller_name": name, "caller_phone": phone, "address": addr,
                              "territorial_unit_code": street}, should_handle, until, r,
                             first_unit=street if story.wave else story.unit, forced_reply=story.reply_kind,
                             outcome=outcome)

    def _story_caller(self, story: Story, r: random.Random) -> tuple[str, str, str, str]:
        if story.same_caller:   # drawn from the story's own seed every time: the same person
            name, phone, addr, home = self._new_caller(random.Random(f"{story.name}-{self.seed}"))
            return name, phone, story.address or addr, story.street or home
        name, phone, addr, home = self._new_caller(r)
        return name, phone, story.address or addr, story.street or home

    def _ticket(self, day: date, until: datetime) -> list[dict]:
        r = self.rng
        self.count += 1
        code, _law, should_handle = r.choice(self.dir.categories)
        source = r.choices([c for c, _ in CHANNEL_WEIGHTS], [w for _, w in CHANNEL_WEIGHTS])[0]
        name, phone, addr, street = self._caller()
        received = datetime.combine(day, datetime.min.time()) + timedelta(minutes=r.randrange(8 * 60, 20 * 60))
        number = f"{day:%Y%m%d}{self.count:07d}"
        ticket = {"number": number, "received_at": received, "source": source, "category_code": code,
                  "urgent_kind": self.dir.urgent.get(code),
                  "content": (TOURISM_TEXTS if code in TOURISM_TEXTS and self.count % 3 == 0 else TEXTS)[code].format(
                      addr=addr),
                  "caller_name": name, "caller_phone": phone, "address": addr, "territorial_unit_code": street}
        return self._history(ticket, should_handle, until, r)

    def _history(self, ticket: dict, should_handle: bool, until: datetime, r: random.Random,
                 first_unit: str | None = None, forced_reply: str | None = None,
                 outcome: tuple[bool, bool, bool] | None = None) -> list[dict]:
        """The ticket's rows: its events from the first dispatch to the closing, those up to ``until``;
        ``outcome`` (late, satisfied, resolved) decides those instead of the draws, with no return."""
        code, street, source, received = (ticket["category_code"], ticket["territorial_unit_code"], ticket["source"],
                                          ticket["received_at"])
        events: list[dict] = []
        t = received + timedelta(minutes=r.randrange(20, 180))
        unit = self._unit_for(code, street, r=r)
        unit = first_unit or unit   # drawn all the same: the ordinary tickets' stream never depends on it
        for attempt in range(3):
            poor = unit in POOR_UNITS
            events.append({"kind": "dispatched", "at": t, "unit_code": unit})
            signed = t + timedelta(hours=r.choice((0.5, 1, 2, 4, 8, 20)) if r.random() < (0.8 if poor else 0.95)
                                   else r.uniform(25, 60))
            events.append({"kind": "signed", "at": signed, "unit_code": unit})
            p_return = 0.06 if attempt == 0 else 0.3
            if attempt < 2 and r.random() < p_return and not outcome:
                late = r.random() < 0.1
                ret = signed + timedelta(hours=r.uniform(30, 70) if late else r.uniform(0.5, 6))
                nxt = street if code[:2] in TERRITORIAL and unit != street else self._unit_for(code, street, unit, r)
                events.append({"kind": "returned", "at": ret, "unit_code": unit, "reason": r.choice(REASONS),
                               "suggested_unit_code": nxt})
                t, unit = ret + timedelta(hours=r.uniform(1, 5)), nxt
                continue
            break
        person, office_phone = self.dir.contacts.get(unit, ("值班人员", "0535-6600000"))
        events.append({"kind": "contacted", "at": signed + timedelta(minutes=20), "unit_code": unit,
                       "contact_person": person, "contact_phone": office_phone})
        due_days = 13 if source == "enterprise_provincial" else 3
        late_p = 0.2 if poor else 0.03
        late = r.random() < late_p if outcome is None else outcome[0]
        handle_days = r.uniform(due_days + 0.5, due_days + 6) if late else r.uniform(0.2, due_days * 0.9)
        if r.random() < 0.03 and not outcome:
            ext = r.choice((3, 5, 10))
            events.append({"kind": "extended", "at": signed + timedelta(hours=r.uniform(2, 20)), "unit_code": unit,
                           "days": ext, "consent": True})
            handle_days += ext
        reply_kind, plan = "normal", None
        if r.random() < 0.01:
            reply_kind, plan = "planned", (t + timedelta(days=r.randrange(20, 80))).date()
        elif not should_handle:
            reply_kind = "explained"
        if forced_reply:
            reply_kind = forced_reply
            plan = (t + timedelta(days=r.randrange(20, 80))).date() if forced_reply == "planned" else None
        replied = signed + timedelta(days=handle_days * 1.4)  # weekends and holidays stretch the calendar
        events.append({"kind": "replied", "at": replied, "unit_code": unit, "reply_kind": reply_kind, "plan_date": plan,
                       "note": reply_note(reply_kind, code)})
        if r.random() < 0.05:
            events.append({"kind": "reviewed", "at": replied + timedelta(hours=3), "unit_code": "C00",
                           "review_passed": False})
            replied = replied + timedelta(hours=r.uniform(10, 40))
            events.append({"kind": "replied", "at": replied, "unit_code": unit, "reply_kind": reply_kind,
                           "note": reply_note(reply_kind, code)})
        events.append({"kind": "reviewed", "at": replied + timedelta(hours=2), "unit_code": "C00", "review_passed": True})
        callback = replied + timedelta(hours=r.uniform(6, 40))
        sat_p = (0.55, 0.15) if poor else (0.86, 0.1)
        for _round in range(2):
            x = r.random()
            sat = "satisfied" if x < sat_p[0] else ("basically_satisfied" if x < sum(sat_p) else "unsatisfied")
            resolved = r.random() < (0.62 if poor else 0.93) if sat != "unsatisfied" else r.random() < 0.2
            if outcome:
                sat, resolved = ("satisfied" if outcome[1] else "unsatisfied"), outcome[2]
            events.append({"kind": "callback", "at": callback, "unit_code": "C00", "satisfaction": sat,
                           "resolved": resolved})
            if sat == "unsatisfied" and should_handle and r.random() < 0.7 and _round == 0 and not outcome:
                redo = callback + timedelta(hours=1)
                events.append({"kind": "redo", "at": redo, "unit_code": "C00"})
                replied = redo + timedelta(days=r.uniform(0.5, 3))
                events.append({"kind": "replied", "at": replied, "unit_code": unit, "reply_kind": "normal",
                               "note": reply_note("normal", code)})
                callback = replied + timedelta(hours=r.uniform(6, 30))
                continue
            break
        events.append({"kind": "closed", "at": callback + timedelta(hours=1), "unit_code": "C00"})
        return [dict(ticket, **e) for e in events if e["at"] <= until]


# Law-enforcement tickets about tourism (every third of these codes), for the push's 红橙黄 triage;
# chosen by the ticket's number, so the random stream of the demo is unchanged.
TOURISM_TEXTS = {"2001": "反映{addr}附近景区商户虚假宣传、黄牛揽客，游客投诉后执法人员处罚时未出示证件。",
                 "200101": "反映{addr}民宿经营者被以同一事由重复罚款，游客预订受影响。",
                 "2005": "反映旅行社在{addr}办理证照时被收取未公示的费用。"}

# The reply's text (答复内容) by reply kind: fixed, so the random stream of the demo is unchanged.
REPLY_NOTES = {"normal": "经现场核实，已安排专人处理，问题已解决，并已电话告知来电人办理结果。",
               "planned": "该问题需统筹安排资金和施工，已列入年度工作计划，将在计划期限内完成并告知来电人。",
               "explained": "经核实，该诉求不属于本单位职责范围，已向来电人解释说明并告知相关政策和办理渠道。",
               "out_of_scope": "经核实，该诉求不在热线受理范围内，已向来电人说明。",
               "not_true": "经现场核查，来电人反映情况与实际不符，已向来电人反馈核查情况。"}


# What was done, by the category's top-level code, for a normal reply (问题落实情况).
DONE = {"01": "已约谈物业公司负责人，责令其三日内完成楼道清扫和设施维修，并安排社区网格员跟踪复查",
        "02": "已组织执法队员现场处置，对占道、违建等问题依法整治，并纳入日常巡查",
        "03": "已调取相关缴费和用工记录，督促用人单位和经办机构依法办理，相关款项已落实",
        "04": "已核实片区划分和收费情况，向来电人提供书面政策依据，违规收费已责令退还",
        "05": "已会同运营企业研究线路和站点设置，对涉事司机进行约谈并作出处理",
        "06": "已组织环境监测人员现场检测，责令涉事单位立即整改，并将持续开展夜间巡查",
        "07": "已组织安全检查，消除液化气和消防通道隐患，责令相关单位签订整改承诺书",
        "08": "已约谈涉事景区和旅行社，责令按公示价格经营并为来电人办理退款",
        "09": "已协调供水、供电单位抢修，恢复正常供应，并要求今后停水停电提前公告",
        "10": "已对涉事商户开展现场检查，依法立案调查，并督促商家为来电人退换",
        "11": "已联系司法所为来电人提供法律援助咨询，告知申请材料和办理流程",
        "20": "已调阅执法案卷，核实执法程序和依据，对执法不规范问题责令整改并向来电人说明"}


def reply_note(reply_kind: str, category_code: str) -> str:
    """The reply's text (答复内容): what was done for the category, or the fixed words of a special reply;
    derived from the ticket, so the random stream of the demo is unchanged."""
    if reply_kind == "normal" and category_code[:2] in DONE:
        return f"经现场核实，{DONE[category_code[:2]]}，已电话告知来电人办理结果。"
    return REPLY_NOTES[reply_kind]


def write_export(path: Path, rows: Iterator[list[dict]], mapping: Mapping | None = None, progress=None) -> int:
    """Write tickets as the sample export (CSV with the mapping's Chinese headers and words)."""
    mapping = mapping or Mapping.load()
    fields = list(mapping.columns)
    headers = [mapping.columns[f] for f in fields]
    words = {f: {v: k for k, v in table.items()} for f, table in mapping.values.items()}
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(headers)
        for ticket_rows in rows:
            for row in ticket_rows:
                out.writerow([_cell(row.get(f), words.get(f)) for f in fields])
            n += 1
            if progress:
                progress(1)
    return n


def _cell(value, words: dict | None) -> str:
    if value is None:
        return ""
    if words and value in words:
        return words[value]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
