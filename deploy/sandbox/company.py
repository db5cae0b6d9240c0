"""The one company every sandbox is seeded with, so the three systems agree on master data.

苏州恒力精密机械有限公司 makes machine tools and sells in CNY. Its staff, product models and
existing customers appear in the CRM, ERP and OA under the same codes (employee number, model
code, customer number), as they would after a real company's master-data clean-up.
"""

# Master data reads best as one row per line, so long lines are allowed here; specs use the
# multiplication sign for dimensions, as Chinese catalogues do.
# ruff: noqa: E501, RUF001

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "COMPANY",
    "CURRENCY",
    "CUSTOMERS",
    "DEPARTMENTS",
    "EMAIL_DOMAIN",
    "EMPLOYEES",
    "PRODUCTS",
    "Customer",
    "Department",
    "Employee",
    "ProductModel",
    "customer",
    "department",
    "employee",
    "product",
    "salespeople",
]

COMPANY = "苏州恒力精密机械有限公司"
EMAIL_DOMAIN = "hengli-demo.cn"
CURRENCY = "CNY"


@dataclass(frozen=True)
class Department:
    """A department: the OA's `department_id` and the head who leads it."""

    code: str
    name: str
    head: str  # employee number of the department head


@dataclass(frozen=True)
class Employee:
    """A member of staff: same number and e-mail in the ERP (HR) and the OA."""

    number: str
    name: str
    login: str
    title: str
    department: str
    oa_user_id: str
    leader: str | None  # employee number of the direct leader (the OA approver)
    sales: bool = False  # also a CRM user and an ERP salesperson

    @property
    def email(self) -> str:
        """Return the work e-mail."""
        return f"{self.login}@{EMAIL_DOMAIN}"

    @property
    def en_name(self) -> str:
        """Return the name in pinyin, given name first (``zhang.wei`` → ``Wei Zhang``)."""
        family, _, given = self.login.partition(".")
        return f"{given.capitalize()} {family.capitalize()}"

    @property
    def mobile(self) -> str:
        """Return the work mobile number (E.164)."""
        return f"+861391234{self.number[-4:]}"


@dataclass(frozen=True)
class ProductModel:
    """A product model: ERP `default_code` = CRM `ProductCode` = the model code."""

    code: str
    name: str
    list_price: Decimal
    revision: str | None
    manufactured: bool
    kind: str  # "product" or "service"
    stock: int
    family: str
    description: str = ""  # sales text (the CRM owns it; the ERP's description_sale)

    @property
    def uom(self) -> str:
        """Return the unit of measure (台 machines, 人天 service days, 件 parts)."""
        if self.manufactured:
            return "台"
        return "人天" if self.kind == "service" else "件"


@dataclass(frozen=True)
class Customer:
    """An existing customer: ERP partner `ref` = CRM Account `AccountNumber`."""

    number: str
    name: str
    city: str
    street: str
    vat: str
    salesperson: str  # employee number
    phone: str = ""
    industry: str = "Machinery"  # the CRM's Industry picklist value


DEPARTMENTS: tuple[Department, ...] = (
    Department("D1001", "总经办", "E1000"),
    Department("D1002", "销售部", "E1001"),
    Department("D1003", "生产部", "E1004"),
    Department("D1004", "人力资源部", "E1007"),
    Department("D1005", "财务部", "E1006"),
)

EMPLOYEES: tuple[Employee, ...] = (
    Employee("E1000", "王建国", "wang.jianguo", "总经理", "总经办", "5d9bd9a1", None),
    Employee("E1001", "张伟", "zhang.wei", "销售经理", "销售部", "f8ca557e", "E1000", sales=True),
    Employee("E1002", "李娜", "li.na", "销售代表", "销售部", "3ga5e4d1", "E1001", sales=True),
    Employee("E1003", "王芳", "wang.fang", "销售代表", "销售部", "b6e0d4a3", "E1001", sales=True),
    Employee("E1004", "刘洋", "liu.yang", "生产主管", "生产部", "7b2c8e4f", "E1000"),
    Employee("E1005", "陈静", "chen.jing", "计划员", "生产部", "a7e91c2d", "E1004"),
    Employee("E1006", "杨磊", "yang.lei", "会计", "财务部", "2e4f6a8c", "E1000"),
    Employee("E1007", "赵敏", "zhao.min", "HR 专员", "人力资源部", "c8d1f2a6", "E1000"),
    Employee("E1008", "黄强", "huang.qiang", "售后工程师", "生产部", "9d3f5b7e", "E1004"),
)

PRODUCTS: tuple[ProductModel, ...] = (
    ProductModel("HL-VMC850", "HL-VMC850 立式加工中心", Decimal("268000"), "C", True, "product", 2, "加工中心", "行程 850×500×550 mm, BT40 主轴 12000 rpm, 24 把刀库"),
    ProductModel("HL-CK6150", "HL-CK6150 数控车床", Decimal("128000"), "B", True, "product", 3, "数控车床", "最大回转直径 500 mm, 加工长度 1000 mm, 卧式八工位刀塔"),
    ProductModel("HL-LC3015", "HL-LC3015 光纤激光切割机", Decimal("356000"), "A", True, "product", 0, "激光切割", "幅面 3000×1500 mm, 3 kW 光纤激光器, 交换工作台"),
    ProductModel("HL-HP100", "HL-HP100 四柱液压机", Decimal("86500"), "B", True, "product", 1, "液压机", "公称力 1000 kN, 工作台 800×800 mm"),
    ProductModel("HL-SM-7.5", "HL-SM-7.5 伺服电机 7.5kW", Decimal("6800"), "A", False, "product", 40, "配件", "主轴伺服电机, 额定转速 1500 rpm, 适配 HL-VMC850"),
    ProductModel("HL-BS-40", "HL-BS-40 滚珠丝杠 Φ40", Decimal("2350"), "D", False, "product", 120, "配件", "C3 级精度, 导程 10 mm, 含轴承座"),
    ProductModel("HL-SVC-INST", "设备安装调试服务 (人天)", Decimal("1800"), None, False, "service", 0, "服务", "工程师上门安装、调试与操作培训, 按人天计"),
)  # fmt: skip

CUSTOMERS: tuple[Customer, ...] = (
    Customer("C10001", "上海电气自动化设备有限公司", "上海", "浦东新区张江路 1388 号", "91310115MA1H7QXX1K", "E1001", "021-5089 6601", "Electronics"),
    Customer("C10002", "宁波海天塑机配件有限公司", "宁波", "北仑区大港五路 88 号", "91330206MA2GQ1XX2L", "E1001", "0574-8618 2210", "Machinery"),
    Customer("C10003", "深圳市华南精工科技有限公司", "深圳", "宝安区西乡街道固戍二路 12 号", "91440300MA5F8PXX3M", "E1002", "0755-2671 3344", "Electronics"),
    Customer("C10004", "重庆长江汽车零部件有限公司", "重庆", "两江新区金渝大道 68 号", "91500000MA60YKXX4N", "E1002", "023-6718 5520", "Transportation"),
    Customer("C10005", "北京京北智能装备有限公司", "北京", "亦庄经济技术开发区科创十三街 5 号", "91110302MA01RBXX5P", "E1003", "010-6785 3301", "Machinery"),
    Customer("C10006", "成都蜀都数控刀具有限公司", "成都", "高新区天府大道中段 666 号", "91510100MA6C9LXX6Q", "E1003", "028-8531 4470", "Manufacturing"),
)  # fmt: skip


def employee(number: str) -> Employee:
    """Return the employee with `number` (KeyError when unknown)."""
    for person in EMPLOYEES:
        if person.number == number:
            return person
    raise KeyError(number)


def product(code: str) -> ProductModel:
    """Return the product model with `code` (KeyError when unknown)."""
    for model in PRODUCTS:
        if model.code == code:
            return model
    raise KeyError(code)


def customer(number: str) -> Customer:
    """Return the customer with `number` (KeyError when unknown)."""
    for row in CUSTOMERS:
        if row.number == number:
            return row
    raise KeyError(number)


def department(name: str) -> Department:
    """Return the department called `name` (KeyError when unknown)."""
    for row in DEPARTMENTS:
        if row.name == name:
            return row
    raise KeyError(name)


def salespeople() -> tuple[Employee, ...]:
    """Return the sales staff (CRM users, ERP salespeople), in employee-number order."""
    return tuple(person for person in EMPLOYEES if person.sales)
