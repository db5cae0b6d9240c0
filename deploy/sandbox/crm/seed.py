"""Seed data of the sandbox CRM: 苏州恒力精密机械有限公司 (``deploy.sandbox.company``).

Users (the sales staff E1001-E1003 as ``<login>@hengli-demo.cn``, the integration user), the
company's product models (``ProductCode`` = ``ErpProductRef__c`` = model code), the standard price
book at list price and a dealer price book, its customers as Accounts (``AccountNumber`` =
``ErpCustomerRef__c`` = customer number), trade-show leads and a few orders, stamped in the
recent past so polling tests start clean. Deterministic: the same records, in the same order,
with the same ids on every start.
"""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bizbus.deploy.sandbox.company import COMPANY, CUSTOMERS, EMAIL_DOMAIN, PRODUCTS, salespeople
from bizbus.deploy.sandbox.crm.objects import OBJECTS
from bizbus.deploy.sandbox.crm.records import Actor, RecordStore
from bizbus.deploy.sandbox.crm.values import format_datetime

__all__ = [
    "DEALER_DISCOUNT",
    "DEALER_PRICE_BOOK",
    "INTEGRATION_USERNAME",
    "USER_PASSWORD",
    "seed",
    "user_id_for",
]

INTEGRATION_USERNAME = f"integration@{EMAIL_DOMAIN}"
# Sandbox-only password for the username-password OAuth flow of every seeded user.
USER_PASSWORD = "sandbox-user-password"  # noqa: S105 - public sandbox credential
DEALER_PRICE_BOOK = "2026 经销商价格表"
DEALER_DISCOUNT = Decimal("0.88")  # dealer price = list price * 0.88

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
    """Insert the integration user, then the sales staff; return their ids in that order."""
    user = OBJECTS["User"]
    rows = [("Integration", "bizbus", "Integration bizbus", INTEGRATION_USERNAME, "系统集成", "IT")]
    rows += [(person.name[1:], person.name[0], person.name, person.email, person.title,
              person.department) for person in salespeople()]  # fmt: skip
    ids = []
    for first, last, name, username, title, department in rows:
        record_id = records.new_id(user)
        stamp = format_datetime(when)
        records.store.db.execute(
            'INSERT INTO "User" ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", '
            '"SystemModstamp", "Username", "FirstName", "LastName", "Name", "Email", "Title", '
            '"Department", "CompanyName", "IsActive") VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '
            "?, 1)",
            (record_id, stamp, stamp, stamp, username, first, last, name, username, title,
             department, COMPANY),
        )  # fmt: skip
        ids.append(record_id)
    return ids


def seed(records: RecordStore, now: datetime) -> None:
    """Fill an empty database with the company's CRM data (no effects are logged)."""
    start = now - timedelta(days=30)
    users = _users(records, start)
    owners = {person.number: users[index]
              for index, person in enumerate(salespeople(), start=1)}  # fmt: skip
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
        {"Name": DEALER_PRICE_BOOK, "Description": "经销商含税价（人民币）", "IsActive": True,
         "ErpPricelistRef__c": "PL-DEALER-2026"},
        admin, tick(),
    )  # fmt: skip
    entries: dict[str, tuple[str, float]] = {}
    for model in PRODUCTS:
        product = _insert(
            records, "Product2",
            {"Name": model.name, "ProductCode": model.code, "Family": model.family,
             "Description": model.description or None, "IsActive": True,
             "QuantityUnitOfMeasure": model.uom, "ErpProductRef__c": model.code,
             "ModelRevision__c": model.revision},
            admin, tick(),
        )  # fmt: skip
        _insert(records, "PricebookEntry",
                {"Pricebook2Id": standard, "Product2Id": product,
                 "UnitPrice": float(model.list_price), "IsActive": True,
                 "ErpPriceRef__c": f"{model.code}-LIST"}, admin, tick())  # fmt: skip
        dealer_price = float((model.list_price * DEALER_DISCOUNT).quantize(Decimal("0.01")))
        entries[model.code] = (
            _insert(records, "PricebookEntry",
                    {"Pricebook2Id": dealer, "Product2Id": product, "UnitPrice": dealer_price,
                     "IsActive": True, "ErpPriceRef__c": f"{model.code}-DLR"},
                    admin, tick()),
            dealer_price,
        )  # fmt: skip
    accounts: dict[str, str] = {}
    for row in CUSTOMERS:
        body = {"Name": row.name, "AccountNumber": row.number, "BillingCity": row.city,
                "BillingStreet": row.street, "Phone": row.phone, "BillingCountry": "中国",
                "Industry": row.industry, "Type": "Customer - Direct",
                "OwnerId": owners[row.salesperson], "ErpCustomerRef__c": row.number}  # fmt: skip
        accounts[row.number] = _insert(records, "Account", body, admin, tick())
    sales = list(owners.values())
    for index, full_name in enumerate(_LEAD_NAMES):
        company = _LEAD_COMPANIES[index % len(_LEAD_COMPANIES)]
        body = {
            "LastName": full_name[0], "FirstName": full_name[1:], "Company": company,
            "City": _LEAD_CITIES[index % len(_LEAD_CITIES)], "LeadSource": "Trade Show",
            "Title": ["采购经理", "设备部主管", "总工程师", "技术总监"][index % 4],
            "Email": f"lead{index + 1:02d}@example.cn",
            "Phone": f"138{index:04d}{index * 37 % 10000:04d}",
            "Description": "2026 深圳国际机床展览会展位名片",
            "Status": "Working - Contacted" if index % 5 == 0 else "Open - Not Contacted",
            "OwnerId": sales[index % len(sales)],
        }  # fmt: skip
        _insert(records, "Lead", body, admin, tick())
    orders: list[tuple[str, str | None, str, str | None, list[tuple[str, int]]]] = [
        ("C10001", "SO-2026-0001", "Activated", "Shipped",
         [("HL-VMC850", 1), ("HL-SVC-INST", 3)]),
        ("C10003", "SO-2026-0002", "Activated", "InProduction",
         [("HL-CK6150", 2), ("HL-BS-40", 10)]),
        ("C10005", None, "Draft", None, [("HL-HP100", 1), ("HL-SM-7.5", 6)]),
    ]  # fmt: skip
    for seq, (number, order_ref, status, erp_status, lines) in enumerate(orders, start=1):
        owner = owners[next(row.salesperson for row in CUSTOMERS if row.number == number)]
        order = _insert(
            records, "Order",
            {"AccountId": accounts[number], "Pricebook2Id": dealer, "Status": "Draft",
             "EffectiveDate": (start + timedelta(days=seq)).date().isoformat(),
             "Name": f"框架订单 {seq}", "ErpOrderRef__c": order_ref, "ErpStatus__c": erp_status,
             "OwnerId": owner},
            admin, tick(),
        )  # fmt: skip
        for code, quantity in lines:
            entry, price = entries[code]
            _insert(records, "OrderItem", {"OrderId": order, "PricebookEntryId": entry,
                    "Quantity": quantity, "UnitPrice": price}, admin, tick())  # fmt: skip
        if status != "Draft":
            records.update(OBJECTS["Order"], order, {"Status": status}, admin,
                           format_datetime(tick()))  # fmt: skip
