"""Seed data of the sandbox CRM: 恒力精工 (a Suzhou maker of gear reducers and servo drives).

Users (sales staff, the integration user), customers, CNY price books, product models,
trade-show leads and a few orders, stamped in the recent past so polling tests start clean.
Deterministic: the same records, in the same order, with the same ids on every start.
"""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from datetime import datetime, timedelta
from typing import Any

from deploy.sandbox.crm.objects import OBJECTS
from deploy.sandbox.crm.records import Actor, RecordStore
from deploy.sandbox.crm.values import format_datetime

__all__ = ["INTEGRATION_USERNAME", "USER_PASSWORD", "seed", "user_id_for"]

INTEGRATION_USERNAME = "integration@hengli-sandbox.cn"
# Sandbox-only password for the username-password OAuth flow of every seeded user.
USER_PASSWORD = "sandbox-user-password"  # noqa: S105 - public sandbox credential

_USERS = [
    ("Integration", "bizbus", INTEGRATION_USERNAME, "系统集成", "IT"),
    ("芳", "王", "wang.fang@hengli-sandbox.cn", "华东区销售经理", "销售部"),
    ("伟", "李", "li.wei@hengli-sandbox.cn", "华南区销售代表", "销售部"),
    ("静", "张", "zhang.jing@hengli-sandbox.cn", "华北区销售代表", "销售部"),
    ("强", "刘", "liu.qiang@hengli-sandbox.cn", "大客户经理", "销售部"),
    ("敏", "陈", "chen.min@hengli-sandbox.cn", "销售运营专员", "销售运营部"),
]

_PRODUCTS = [
    # code, name, family, description, list price (CNY), ERP ref, revision
    (
        "HL-PG60-10",
        "PG60 精密行星减速机 i=10",
        "减速机",
        "法兰60mm，回程间隙≤3弧分",
        1280.0,
        "MAT-1001",
        "B",
    ),
    (
        "HL-PG90-20",
        "PG90 精密行星减速机 i=20",
        "减速机",
        "法兰90mm，回程间隙≤3弧分",
        2150.0,
        "MAT-1002",
        "C",
    ),
    (
        "HL-PG120-50",
        "PG120 重载行星减速机 i=50",
        "减速机",
        "法兰120mm，额定扭矩320Nm",
        3980.0,
        "MAT-1003",
        "A",
    ),
    (
        "HL-RV40E",
        "RV-40E 机器人关节减速机",
        "减速机",
        "六轴机器人第二关节用",
        8600.0,
        "MAT-1004",
        "A",
    ),
    (
        "HL-SM750",
        "SM750 交流伺服电机 750W",
        "伺服电机",
        "额定转速3000rpm，17位编码器",
        1650.0,
        "MAT-2001",
        "D",
    ),
    (
        "HL-SM1K5",
        "SM1K5 交流伺服电机 1.5kW",
        "伺服电机",
        "额定转速2000rpm，23位编码器",
        2780.0,
        "MAT-2002",
        "B",
    ),
    (
        "HL-SD750",
        "SD750 伺服驱动器 750W",
        "驱动器",
        "EtherCAT总线，适配SM750",
        1380.0,
        "MAT-3001",
        "A",
    ),
    (
        "HL-SD1K5",
        "SD1K5 伺服驱动器 1.5kW",
        "驱动器",
        "EtherCAT总线，适配SM1K5",
        2260.0,
        "MAT-3002",
        "A",
    ),
    ("HL-MC8", "MC8 八轴运动控制器", "控制器", "支持G代码与电子凸轮", 9800.0, "MAT-4001", "B"),
    ("HL-CBL5", "伺服动力电缆 5m", "配件", "高柔性拖链电缆", 168.0, "MAT-5001", "A"),
]

_ACCOUNTS: list[tuple[str, str, str, str, str, str | None, int]] = [
    # name, account number, city, phone, industry, ERP ref, owner index
    (
        "苏州明德自动化设备有限公司",
        "C-10001",
        "苏州",
        "0512-6532 8801",
        "Machinery",
        "CUST-0001",
        1,
    ),
    ("宁波海天精工机械有限公司", "C-10002", "宁波", "0574-8618 2210", "Machinery", "CUST-0002", 1),
    ("东莞华科机器人有限公司", "C-10003", "东莞", "0769-2289 6120", "Electronics", "CUST-0003", 2),
    (
        "深圳科瑞智能装备有限公司",
        "C-10004",
        "深圳",
        "0755-2671 3344",
        "Electronics",
        "CUST-0004",
        2,
    ),
    ("天津北辰数控机床有限公司", "C-10005", "天津", "022-2639 7701", "Machinery", "CUST-0005", 3),
    (
        "青岛宏达包装机械有限公司",
        "C-10006",
        "青岛",
        "0532-8590 1123",
        "Manufacturing",
        "CUST-0006",
        3,
    ),
    ("武汉光谷激光设备有限公司", "C-10007", "武汉", "027-8772 5506", "Electronics", "CUST-0007", 4),
    (
        "成都西部重工股份有限公司",
        "C-10008",
        "成都",
        "028-8531 4470",
        "Manufacturing",
        "CUST-0008",
        4,
    ),
    (
        "杭州新松物流装备有限公司",
        "C-10009",
        "杭州",
        "0571-8820 9317",
        "Transportation",
        "CUST-0009",
        1,
    ),
    ("合肥晶合半导体设备有限公司", "C-10010", "合肥", "0551-6531 0082", "Electronics", None, 4),
]

_LEAD_NAMES = ["赵磊", "钱丽", "孙浩", "周婷", "吴军", "郑洁", "冯涛", "陈晨", "褚明", "卫红",
               "蒋波", "沈燕", "韩刚", "杨雪", "朱峰", "秦琳", "尤斌", "许倩", "何勇", "吕萍",
               "施杰", "张蕾", "孔亮", "曹颖", "严鹏"]  # fmt: skip
_LEAD_COMPANIES = ["常州精越机电有限公司", "无锡华辰自动化有限公司", "佛山顺德包装设备厂",
                   "厦门鑫泰电子有限公司", "南京埃斯顿集成有限公司", "郑州宇通零部件有限公司",
                   "长沙中联智能装备有限公司", "西安秦川机床配套有限公司"]  # fmt: skip
_LEAD_CITIES = ["常州", "无锡", "佛山", "厦门", "南京", "郑州", "长沙", "西安"]


def _insert(
    records: RecordStore, object_name: str, body: dict[str, Any], actor: Actor, when: datetime
) -> str:
    obj = OBJECTS[object_name]
    values = records.convert(obj, body, creating=True)
    return records.insert(obj, values, actor, format_datetime(when))


def user_id_for(records: RecordStore, username: str) -> str | None:
    """Return the id of the active user with this username, or None."""
    ids = records.find(OBJECTS["User"], "Username", username)
    return ids[0] if ids else None


def _users(records: RecordStore, when: datetime) -> list[str]:
    user = OBJECTS["User"]
    ids = []
    for first, last, username, title, department in _USERS:
        record_id = records.new_id(user)
        stamp = format_datetime(when)
        name = f"{last}{first}" if last != "bizbus" else f"{first} {last}"
        records.store.db.execute(
            'INSERT INTO "User" ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", '
            '"SystemModstamp", "Username", "FirstName", "LastName", "Name", "Email", "Title", '
            '"Department", "CompanyName", "IsActive") VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '
            "?, 1)",
            (record_id, stamp, stamp, stamp, username, first, last, name, username, title,
             department, "苏州恒力精工传动科技有限公司"),
        )  # fmt: skip
        ids.append(record_id)
    return ids


def seed(records: RecordStore, now: datetime) -> None:
    """Fill an empty database with the sample company's CRM data (no effects are logged)."""
    start = now - timedelta(days=30)
    users = _users(records, start)
    admin = Actor(users[1], "sandbox-seed")
    step = timedelta(minutes=7)
    when = start

    def tick() -> datetime:
        nonlocal when
        when += step
        return when

    standard = _insert(records, "Pricebook2", {"Name": "Standard Price Book", "IsActive": True},
                       admin, tick())  # fmt: skip
    records.store.db.execute('UPDATE "Pricebook2" SET "IsStandard" = 1 WHERE "Id" = ?', (standard,))
    dealer = _insert(
        records, "Pricebook2",
        {"Name": "2026 经销商价格表", "Description": "经销商含税价（人民币）", "IsActive": True,
         "ErpPricelistRef__c": "PL-DEALER-2026"},
        admin, tick(),
    )  # fmt: skip
    entries: dict[str, tuple[str, float]] = {}
    for code, name, family, description, price, erp_ref, revision in _PRODUCTS:
        product = _insert(
            records, "Product2",
            {"Name": name, "ProductCode": code, "Family": family, "Description": description,
             "IsActive": True, "QuantityUnitOfMeasure": "台" if family != "配件" else "根",
             "ErpProductRef__c": erp_ref, "ModelRevision__c": revision},
            admin, tick(),
        )  # fmt: skip
        _insert(records, "PricebookEntry",
                {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": price,
                 "IsActive": True, "ErpPriceRef__c": f"{erp_ref}-STD"}, admin, tick())  # fmt: skip
        dealer_price = round(price * 0.88, 2)
        entries[code] = (
            _insert(records, "PricebookEntry",
                    {"Pricebook2Id": dealer, "Product2Id": product, "UnitPrice": dealer_price,
                     "IsActive": True, "ErpPriceRef__c": f"{erp_ref}-DLR"},
                    admin, tick()),
            dealer_price,
        )  # fmt: skip
    accounts = []
    for account_name, account_no, city, phone, industry, customer_ref, owner in _ACCOUNTS:
        body = {"Name": account_name, "AccountNumber": account_no, "BillingCity": city, "Phone": phone,  # noqa: E501
                "BillingCountry": "中国", "Industry": industry, "Type": "Customer - Direct",
                "OwnerId": users[owner], "ErpCustomerRef__c": customer_ref}  # fmt: skip
        accounts.append(_insert(records, "Account", body, admin, tick()))
    for index, full_name in enumerate(_LEAD_NAMES):
        company = _LEAD_COMPANIES[index % len(_LEAD_COMPANIES)]
        body = {
            "LastName": full_name[0], "FirstName": full_name[1:], "Company": company,
            "City": _LEAD_CITIES[index % len(_LEAD_CITIES)], "LeadSource": "Trade Show",
            "Title": ["采购经理", "设备部主管", "总工程师", "技术总监"][index % 4],
            "Email": f"lead{index + 1:02d}@example.cn",
            "Phone": f"138{index:04d}{index * 37 % 10000:04d}",
            "Description": "2026 中国国际工业博览会（上海）展位名片",
            "Status": "Working - Contacted" if index % 5 == 0 else "Open - Not Contacted",
            "OwnerId": users[1 + index % 4],
        }  # fmt: skip
        _insert(records, "Lead", body, admin, tick())
    orders: list[tuple[str, str | None, str, str | None, list[tuple[str, int]]]] = [
        (accounts[0], "SO-2026-0001", "Activated", "Shipped",
         [("HL-PG60-10", 20), ("HL-SM750", 20)]),
        (accounts[2], "SO-2026-0002", "Activated", "InProduction",
         [("HL-RV40E", 6), ("HL-CBL5", 12)]),
        (accounts[4], None, "Draft", None, [("HL-MC8", 2), ("HL-SD1K5", 8), ("HL-SM1K5", 8)]),
    ]  # fmt: skip
    for seq, (account, order_ref, status, erp_status, lines) in enumerate(orders, start=1):
        order = _insert(
            records, "Order",
            {"AccountId": account, "Pricebook2Id": dealer, "Status": "Draft",
             "EffectiveDate": (start + timedelta(days=seq)).date().isoformat(),
             "Name": f"框架订单 {seq}", "ErpOrderRef__c": order_ref, "ErpStatus__c": erp_status,
             "OwnerId": users[1]},
            admin, tick(),
        )  # fmt: skip
        for code, quantity in lines:
            entry, price = entries[code]
            _insert(records, "OrderItem", {"OrderId": order, "PricebookEntryId": entry,
                    "Quantity": quantity, "UnitPrice": price}, admin, tick())  # fmt: skip
        if status != "Draft":
            records.update(OBJECTS["Order"], order, {"Status": status}, admin,
                           format_datetime(tick()))  # fmt: skip
