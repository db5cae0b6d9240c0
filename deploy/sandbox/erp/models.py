"""The ERP's models and fields (a subset of Odoo 17 community), declared once as data.

Each model is one SQLite table named after it (`sale.order` → `sale_order`) with Odoo's magic
columns (`create_date`, `create_uid`, `write_date`, `write_uid`). Types follow Odoo's names;
`one2many` fields are read through their inverse many2one, `_inherits` fields through the parent.
"""

from dataclasses import dataclass, field

__all__ = ["MODELS", "Field", "Model", "table_of"]


@dataclass(frozen=True)
class Field:
    """One field as `fields_get` describes it."""

    type: str
    string: str
    relation: str | None = None
    inverse: str | None = None  # one2many: the many2one on `relation` that points back
    selection: tuple[tuple[str, str], ...] = ()
    required: bool = False
    readonly: bool = False
    default: object = None
    help: str = ""

    @property
    def stored(self) -> bool:
        """Whether the field is a column of the model's own table."""
        return self.type != "one2many"


@dataclass(frozen=True)
class Model:
    """One model: its fields, the field holding its display name, and `_inherits` parents."""

    name: str
    description: str
    fields: dict[str, Field]
    rec_name: str = "name"
    inherits: dict[str, str] = field(default_factory=dict)  # parent model → many2one field
    order: str = "id"
    sequence: str | None = None  # prefix of generated `name` values, e.g. "S"


def table_of(model: str) -> str:
    """Return the SQLite table of a model."""
    return model.replace(".", "_")


def _f(type_: str, string: str, relation: str | None = None, **kw: object) -> Field:
    return Field(type_, string, relation, **kw)  # type: ignore[arg-type]


def _sel(string: str, options: str, default: str | None = None, **kw: object) -> Field:
    pairs = tuple((key, label) for key, _, label in (o.partition(":") for o in options.split(",")))
    return Field(
        "selection",
        string,
        selection=pairs,
        default=default,
        **kw,  # type: ignore[arg-type]
    )


_C, _T, _B, _I = "char", "text", "boolean", "integer"
_M2O, _O2M, _MON, _DT, _D, _FL = "many2one", "one2many", "monetary", "datetime", "date", "float"
_M2M = "many2many"
_TRIGGERS = (
    "on_create_or_write:On save,on_create:On creation,on_write:On update,on_unlink:On deletion,"
    "on_state_set:State is set to,on_time:Based on date field,on_change:On UI change,"
    "on_webhook:On webhook"
)
_ACTION_STATES = (
    "object_write:Update Record,object_create:Create Record,code:Execute Code,"
    "webhook:Send Webhook Notification,multi:Execute Existing Actions"
)
_SO_STATES = "draft:Quotation,sent:Quotation Sent,sale:Sales Order,done:Locked,cancel:Cancelled"
_MO_STATES = (
    "draft:Draft,confirmed:Confirmed,progress:In Progress,to_close:To Close,done:Done,"
    "cancel:Cancelled"
)
_PICK_STATES = (
    "draft:Draft,waiting:Waiting Another Operation,confirmed:Waiting,assigned:Ready,done:Done,"
    "cancel:Cancelled"
)
_LEAVE_STATES = (
    "draft:To Submit,confirm:To Approve,refuse:Refused,validate1:Second Approval,"
    "validate:Approved,cancel:Cancelled"
)

_DEFS: list[Model] = [
    Model("res.currency", "Currency", {
        "name": _f(_C, "Currency", required=True), "symbol": _f(_C, "Symbol"),
        "active": _f(_B, "Active", default=True),
    }),
    Model("res.country", "Country", {
        "name": _f(_C, "Country Name", required=True), "code": _f(_C, "Country Code"),
    }),
    Model("res.partner", "Contact", {
        "name": _f(_C, "Name", required=True), "ref": _f(_C, "Reference"),
        "is_company": _f(_B, "Is a Company", default=False),
        "parent_id": _f(_M2O, "Related Company", "res.partner"),
        "email": _f(_C, "Email"), "phone": _f(_C, "Phone"), "mobile": _f(_C, "Mobile"),
        "street": _f(_C, "Street"), "city": _f(_C, "City"), "zip": _f(_C, "Zip"),
        "country_id": _f(_M2O, "Country", "res.country"),
        "country_code": _f(_C, "Country Code", readonly=True, default="CN"),
        "vat": _f(_C, "Tax ID"), "user_id": _f(_M2O, "Salesperson", "res.users"),
        "customer_rank": _f(_I, "Customer Rank", default=0), "comment": _f(_T, "Notes"),
        "lang": _f(_C, "Language", default="zh_CN"), "active": _f(_B, "Active", default=True),
    }),
    Model("res.users", "User", {
        "name": _f(_C, "Name", required=True), "login": _f(_C, "Login", required=True),
        "partner_id": _f(_M2O, "Related Partner", "res.partner"),
        "email": _f(_C, "Email"), "share": _f(_B, "Share User", default=False),
        "tz": _f(_C, "Timezone", default="Asia/Shanghai"),
        "lang": _f(_C, "Language", default="zh_CN"),
        "active": _f(_B, "Active", default=True),
    }),
    Model("product.template", "Product", {
        "name": _f(_C, "Name", required=True), "default_code": _f(_C, "Internal Reference"),
        "list_price": _f(_FL, "Sales Price", default=1.0),
        "standard_price": _f(_FL, "Cost", default=0.0),
        "detailed_type": _sel("Product Type", "consu:Consumable,service:Service,"
            "product:Storable Product", "product"),
        "type": _sel("Type", "consu:Consumable,service:Service,"
            "product:Storable Product", "product"),
        "uom_name": _f(_C, "Unit of Measure Name", default="台"),
        "sale_ok": _f(_B, "Can be Sold", default=True),
        "purchase_ok": _f(_B, "Can be Purchased", default=True),
        "description_sale": _f(_T, "Sales Description"),
        "x_model_revision": _f(_C, "Model Revision",
                               help="Engineering revision of the product model"),
        "x_manufacture": _f(_B, "Manufacture on Order", default=False,
                            help="Stands in for the Manufacture + Replenish on Order routes"),
        "product_variant_ids": _f(_O2M, "Products", "product.product", inverse="product_tmpl_id"),
        "currency_id": _f(_M2O, "Currency", "res.currency", readonly=True),
        "active": _f(_B, "Active", default=True),
    }),
    Model("product.product", "Product Variant", {
        "product_tmpl_id": _f(_M2O, "Product Template", "product.template", required=True),
        "barcode": _f(_C, "Barcode"), "lst_price": _f(_FL, "Sales Price"),
        "qty_available": _f(_FL, "Quantity On Hand", readonly=True),
        "free_qty": _f(_FL, "Free To Use Quantity", readonly=True),
        "incoming_qty": _f(_FL, "Incoming", readonly=True),
        "active": _f(_B, "Active", default=True),
    }, inherits={"product.template": "product_tmpl_id"}),
    Model("product.pricelist", "Pricelist", {
        "name": _f(_C, "Pricelist Name", required=True),
        "currency_id": _f(_M2O, "Currency", "res.currency", required=True),
        "item_ids": _f(_O2M, "Pricelist Rules", "product.pricelist.item", inverse="pricelist_id"),
        "active": _f(_B, "Active", default=True),
    }),
    Model("product.pricelist.item", "Pricelist Rule", {
        "pricelist_id": _f(_M2O, "Pricelist", "product.pricelist", required=True),
        "applied_on": _sel("Apply On", "3_global:All Products,1_product:Product,"
            "0_product_variant:Product Variant", "1_product"),
        "product_tmpl_id": _f(_M2O, "Product", "product.template"),
        "product_id": _f(_M2O, "Product Variant", "product.product"),
        "compute_price": _sel("Computation", "fixed:Fixed Price,percentage:Discount,"
            "formula:Formula", "fixed"),
        "fixed_price": _f(_MON, "Fixed Price", default=0.0),
        "min_quantity": _f(_FL, "Min. Quantity", default=0.0),
        "currency_id": _f(_M2O, "Currency", "res.currency", readonly=True),
        "date_start": _f(_DT, "Start Date"), "date_end": _f(_DT, "End Date"),
    }, rec_name="applied_on"),
    Model("sale.order", "Sales Order", {
        "name": _f(_C, "Order Reference", readonly=True),
        "partner_id": _f(_M2O, "Customer", "res.partner", required=True),
        "client_order_ref": _f(_C, "Customer Reference"), "origin": _f(_C, "Source Document"),
        "date_order": _f(_DT, "Order Date"), "commitment_date": _f(_DT, "Delivery Date"),
        "state": _sel("Status", _SO_STATES, "draft", readonly=True),
        "user_id": _f(_M2O, "Salesperson", "res.users"),
        "pricelist_id": _f(_M2O, "Pricelist", "product.pricelist"),
        "currency_id": _f(_M2O, "Currency", "res.currency", readonly=True),
        "order_line": _f(_O2M, "Order Lines", "sale.order.line", inverse="order_id"),
        "amount_untaxed": _f(_MON, "Untaxed Amount", readonly=True, default=0.0),
        "amount_tax": _f(_MON, "Taxes", readonly=True, default=0.0),
        "amount_total": _f(_MON, "Total", readonly=True, default=0.0),
        "invoice_status": _sel("Invoice Status", "upselling:Upselling Opportunity,"
            "invoiced:Fully Invoiced,to invoice:To Invoice,"
                "no:Nothing to Invoice", "no", readonly=True),
        "delivery_status": _sel("Delivery Status", "pending:Not Delivered,started:Started,"
            "partial:Partially Delivered,full:Fully Delivered", readonly=True),
        "picking_ids": _f(_O2M, "Transfers", "stock.picking", inverse="sale_id"),
        "note": _f(_T, "Terms and conditions"),
    }, order="date_order desc, id desc", sequence="S"),
    Model("sale.order.line", "Sales Order Line", {
        "order_id": _f(_M2O, "Order Reference", "sale.order", required=True),
        "sequence": _f(_I, "Sequence", default=10), "name": _f(_T, "Description"),
        "product_id": _f(_M2O, "Product", "product.product"),
        "product_uom_qty": _f(_FL, "Quantity", default=1.0),
        "price_unit": _f(_FL, "Unit Price", default=0.0),
        "discount": _f(_FL, "Discount (%)", default=0.0),
        "price_subtotal": _f(_MON, "Subtotal", readonly=True, default=0.0),
        "price_total": _f(_MON, "Total", readonly=True, default=0.0),
        "qty_delivered": _f(_FL, "Delivery Quantity", readonly=True, default=0.0),
        "qty_invoiced": _f(_FL, "Invoiced Quantity", readonly=True, default=0.0),
        "currency_id": _f(_M2O, "Currency", "res.currency", readonly=True),
        "state": _sel("Order Status", _SO_STATES, "draft", readonly=True),
    }, order="order_id, sequence, id"),
    Model("mrp.production", "Production Order", {
        "name": _f(_C, "Reference", readonly=True), "origin": _f(_C, "Source"),
        "product_id": _f(_M2O, "Product", "product.product", required=True),
        "product_qty": _f(_FL, "Quantity To Produce", default=1.0),
        "qty_producing": _f(_FL, "Quantity Producing", default=0.0),
        "state": _sel("State", _MO_STATES, "draft", readonly=True),
        "date_start": _f(_DT, "Start"),
        "date_finished": _f(_DT, "End"), "date_deadline": _f(_DT, "Deadline"),
        "user_id": _f(_M2O, "Responsible", "res.users"),
        "x_sale_line_id": _f(_M2O, "Sales Order Line", "sale.order.line", readonly=True),
    }, order="id desc", sequence="WH/MO/"),
    Model("stock.location", "Inventory Locations", {
        "name": _f(_C, "Location Name", required=True),
        "complete_name": _f(_C, "Full Location Name"),
        "usage": _sel("Location Type", "supplier:Vendor,view:View,internal:Internal,"
            "customer:Customer,inventory:Inventory Loss,production:Production,"
                "transit:Transit", "internal"),
        "active": _f(_B, "Active", default=True),
    }, rec_name="complete_name"),
    Model("stock.quant", "Quants", {
        "product_id": _f(_M2O, "Product", "product.product", required=True),
        "location_id": _f(_M2O, "Location", "stock.location", required=True),
        "quantity": _f(_FL, "Quantity", readonly=True, default=0.0),
        "reserved_quantity": _f(_FL, "Reserved Quantity", readonly=True, default=0.0),
        "inventory_quantity": _f(_FL, "Counted Quantity"),
    }, rec_name="product_id"),
    Model("stock.picking", "Transfer", {
        "name": _f(_C, "Reference", readonly=True), "origin": _f(_C, "Source Document"),
        "partner_id": _f(_M2O, "Contact", "res.partner"),
        "sale_id": _f(_M2O, "Sales Order", "sale.order"),
        "picking_type_code": _sel("Type of Operation", "incoming:Receipt,outgoing:Delivery,"
            "internal:Internal Transfer", "outgoing"),
        "location_id": _f(_M2O, "Source Location", "stock.location"),
        "location_dest_id": _f(_M2O, "Destination Location", "stock.location"),
        "state": _sel("Status", _PICK_STATES, "draft", readonly=True),
        "scheduled_date": _f(_DT, "Scheduled Date"),
        "date_done": _f(_DT, "Date of Transfer", readonly=True),
        "carrier_tracking_ref": _f(_C, "Tracking Reference"),
        "move_ids": _f(_O2M, "Stock Moves", "stock.move", inverse="picking_id"),
    }, order="id desc", sequence="WH/OUT/"),
    Model("stock.move", "Stock Move", {
        "name": _f(_C, "Description"), "reference": _f(_C, "Reference"),
        "picking_id": _f(_M2O, "Transfer", "stock.picking"),
        "production_id": _f(_M2O, "Production Order for finished products", "mrp.production"),
        "product_id": _f(_M2O, "Product", "product.product", required=True),
        "product_uom_qty": _f(_FL, "Demand", default=0.0),
        "quantity": _f(_FL, "Quantity", default=0.0),
        "location_id": _f(_M2O, "Source Location", "stock.location"),
        "location_dest_id": _f(_M2O, "Destination Location", "stock.location"),
        "state": _sel("Status", "draft:New,waiting:Waiting Another Move,"
            "confirmed:Waiting Availability,assigned:Available,done:Done,"
                "cancel:Cancelled", "draft", readonly=True),
        "sale_line_id": _f(_M2O, "Sale Line", "sale.order.line"),
    }),
    Model("account.move", "Journal Entry", {
        "name": _f(_C, "Number", readonly=True), "ref": _f(_C, "Reference"),
        "move_type": _sel("Type", "entry:Journal Entry,out_invoice:Customer Invoice,"
            "out_refund:Customer Credit Note", "entry"),
        "partner_id": _f(_M2O, "Partner", "res.partner"), "invoice_origin": _f(_C, "Origin"),
        "invoice_date": _f(_D, "Invoice/Bill Date"), "invoice_date_due": _f(_D, "Due Date"),
        "state": _sel("Status", "draft:Draft,posted:Posted,"
            "cancel:Cancelled", "draft", readonly=True),
        "payment_state": _sel("Payment Status", "not_paid:Not Paid,in_payment:In Payment,"
            "paid:Paid,partial:Partially Paid,reversed:Reversed", "not_paid", readonly=True),
        "currency_id": _f(_M2O, "Currency", "res.currency"),
        "amount_untaxed": _f(_MON, "Untaxed Amount", readonly=True, default=0.0),
        "amount_tax": _f(_MON, "Tax", readonly=True, default=0.0),
        "amount_total": _f(_MON, "Total", readonly=True, default=0.0),
        "amount_residual": _f(_MON, "Amount Due", readonly=True, default=0.0),
        "invoice_line_ids": _f(_O2M, "Invoice lines", "account.move.line", inverse="move_id"),
        "x_sale_order_id": _f(_M2O, "Sales Order", "sale.order", readonly=True),
    }, order="id desc", sequence="INV/"),
    Model("account.move.line", "Journal Item", {
        "move_id": _f(_M2O, "Journal Entry", "account.move", required=True),
        "name": _f(_C, "Label"),
        "product_id": _f(_M2O, "Product", "product.product"),
        "quantity": _f(_FL, "Quantity", default=1.0),
        "price_unit": _f(_FL, "Unit Price", default=0.0),
        "price_subtotal": _f(_MON, "Subtotal", default=0.0),
        "sale_line_id": _f(_M2O, "Sales Order Line", "sale.order.line"),
    }),
    Model("hr.department", "Department", {
        "name": _f(_C, "Department Name", required=True), "active": _f(_B, "Active", default=True),
    }),
    Model("hr.employee", "Employee", {
        "name": _f(_C, "Employee Name", required=True), "barcode": _f(_C, "Badge ID"),
        "identification_id": _f(_C, "Identification No"), "work_email": _f(_C, "Work Email"),
        "work_phone": _f(_C, "Work Phone"), "mobile_phone": _f(_C, "Work Mobile"),
        "job_title": _f(_C, "Job Title"), "department_id": _f(_M2O, "Department", "hr.department"),
        "user_id": _f(_M2O, "User", "res.users"), "parent_id": _f(_M2O, "Manager", "hr.employee"),
        "active": _f(_B, "Active", default=True),
    }),
    Model("hr.leave.type", "Time Off Type", {
        "name": _f(_C, "Time Off Type", required=True), "code": _f(_C, "Code"),
        "requires_allocation": _sel("Requires allocation", "yes:Yes,no:No Limit", "no"),
        "leave_validation_type": _sel("Time Off Validation", "no_validation:No Validation,"
            "hr:By Time Off Officer,manager:By Employee's Approver,"
                "both:By Employee's Approver and Time Off Officer", "hr"),
        "time_type": _sel("Kind of Time Off", "leave:Absence,other:Worked Time", "leave"),
        "active": _f(_B, "Active", default=True),
    }),
    Model("hr.leave", "Time Off", {
        "name": _f(_C, "Description"), "private_name": _f(_C, "Time Off Description"),
        "holiday_status_id": _f(_M2O, "Time Off Type", "hr.leave.type", required=True),
        "employee_id": _f(_M2O, "Employee", "hr.employee", required=True),
        "request_date_from": _f(_D, "Request Start Date", required=True),
        "request_date_to": _f(_D, "Request End Date", required=True),
        "date_from": _f(_DT, "Start Date", readonly=True),
        "date_to": _f(_DT, "End Date", readonly=True),
        "number_of_days": _f(_FL, "Duration (Days)", readonly=True),
        "state": _sel("Status", _LEAVE_STATES, "confirm"),
        "x_external_ref": _f(_C, "External Reference",
                             help="Unique key of the source approval (e.g. OA instance code)"),
        "x_destination": _f(_C, "Destination"),
        "active": _f(_B, "Active", default=True),
    }, order="date_from desc, id desc"),
    # Metadata and automation rules (Odoo 17 base + base_automation): enough for an admin
    # script to set up "Send Webhook Notification" rules (see automation.py).
    Model("ir.model", "Models", {
        "name": _f(_C, "Model Description", required=True),
        "model": _f(_C, "Model", required=True),
    }, rec_name="name", order="model"),
    Model("ir.model.fields", "Fields", {
        "name": _f(_C, "Field Name", required=True),
        "field_description": _f(_C, "Field Label"),
        "model": _f(_C, "Model Name"),
        "model_id": _f(_M2O, "Model", "ir.model", required=True),
        "ttype": _f(_C, "Field Type"),
    }, rec_name="field_description"),
    Model("base.automation", "Automation Rule", {
        "name": _f(_C, "Automation Rule Name", required=True),
        "model_id": _f(_M2O, "Model", "ir.model", required=True),
        "model_name": _f(_C, "Model Name", readonly=True),
        "trigger": _sel("Trigger", _TRIGGERS, required=True),
        "trigger_field_ids": _f(_M2M, "Trigger Fields", "ir.model.fields"),
        "filter_domain": _f(_C, "Apply on", help="Domain the record must match (Python literal)"),
        "action_server_ids": _f(_O2M, "Actions", "ir.actions.server",
                                inverse="base_automation_id"),
        "active": _f(_B, "Active", default=True),
    }),
    Model("ir.actions.server", "Server Actions", {
        "name": _f(_C, "Action Name", required=True),
        "model_id": _f(_M2O, "Model", "ir.model", required=True),
        "model_name": _f(_C, "Model Name", readonly=True),
        "state": _sel("Type", _ACTION_STATES, "object_write", required=True),
        "usage": _sel("Usage", "ir_actions_server:Server Action,"
                      "base_automation:Automation Rule", "ir_actions_server"),
        "base_automation_id": _f(_M2O, "Automation Rule", "base.automation"),
        "webhook_url": _f(_C, "Webhook URL"),
        "webhook_field_ids": _f(_M2M, "Webhook Fields", "ir.model.fields"),
        "sequence": _f(_I, "Sequence", default=5),
    }),
]  # fmt: skip

MAGIC: dict[str, Field] = {
    "create_date": Field("datetime", "Created on", readonly=True),
    "create_uid": Field("many2one", "Created by", "res.users", readonly=True),
    "write_date": Field("datetime", "Last Updated on", readonly=True),
    "write_uid": Field("many2one", "Last Updated by", "res.users", readonly=True),
}

MODELS: dict[str, Model] = {model.name: model for model in _DEFS}
