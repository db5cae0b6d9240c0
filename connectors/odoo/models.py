"""The Odoo models bizbus reads and writes: upsert key, feed fields and reference shorthands.

A ``SinkCommand`` for ``res.partner`` is found by ``ref``, ``product.product``/``product.template``
by ``default_code``, ``sale.order`` by ``client_order_ref`` and ``hr.leave`` by ``x_external_ref``.
Payload shorthands such as ``partner_ref`` name a related record by its key instead of its id.
"""

from dataclasses import dataclass, field
from types import MappingProxyType

from bizbus.connectors.errors import SchemaError

__all__ = ["LINE_PRODUCT", "MODELS", "RELATIONS", "ModelSpec", "Reference", "spec_for"]

# Fields every feed reads besides the model's own: position and author of the change.
FEED_MAGIC = ("id", "write_date", "write_uid")


@dataclass(frozen=True, slots=True)
class Reference:
    """A related record named by a key: ``partner_ref: "C10001"`` → ``partner_id: 7``.

    Attributes:
        field: The many2one field set on the record (``partner_id``).
        model: The related model (``res.partner``).
        key: The related model's field holding the key (``ref``).
        kind: What the key is, for MappingError messages (``customer ref``).
        quote: Whether the key may appear in messages (False for e-mail addresses).
    """

    field: str
    model: str
    key: str
    kind: str
    quote: bool = True


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One Odoo model as bizbus uses it.

    Attributes:
        name: The model (``sale.order``).
        key_field: The unique external reference a sink command is found by, or None (feed only).
        feed_fields: Fields a change feed reads (``id``, ``write_date``, ``write_uid`` added).
        shorthands: Payload keys that name a related record by its key.
        archivable: The model has ``active``; feeds and lookups include archived records.
    """

    name: str
    key_field: str | None
    feed_fields: tuple[str, ...]
    shorthands: MappingProxyType[str, Reference] = field(
        default_factory=lambda: MappingProxyType({})
    )
    archivable: bool = False

    def fields_to_read(self) -> list[str]:
        """Fields of one feed query, in a stable order."""
        return list(dict.fromkeys((*FEED_MAGIC, *self.feed_fields)))


_PARTNER = Reference("partner_id", "res.partner", "ref", "customer ref")
_PRODUCT = Reference("product_id", "product.product", "default_code", "product default_code")

# many2one field → model: a payload value ``{"ref": "C10001"}`` on it is looked up by that key.
RELATIONS = MappingProxyType(
    {
        "partner_id": "res.partner",
        "parent_id": "res.partner",
        "product_id": "product.product",
        "product_tmpl_id": "product.template",
        "employee_id": "hr.employee",
        "holiday_status_id": "hr.leave.type",
        "country_id": "res.country",
        "user_id": "res.users",
        "pricelist_id": "product.pricelist",
    }
)


def _fields(names: str) -> tuple[str, ...]:
    return tuple(names.split())


_PRODUCT_FIELDS = _fields(
    "default_code name list_price standard_price x_model_revision x_manufacture detailed_type "
    "uom_name sale_ok description_sale currency_id active"
)
_EMPLOYEE_BARCODE = Reference("employee_id", "hr.employee", "barcode", "employee number")
_EMPLOYEE_EMAIL = Reference(
    "employee_id", "hr.employee", "work_email", "employee work email", quote=False
)

_SPECS = [
    ModelSpec(
        "res.partner",
        "ref",
        _fields(
            "name ref is_company parent_id email phone street city zip country_id vat user_id "
            "customer_rank active"
        ),
        MappingProxyType(
            {"parent_ref": Reference("parent_id", "res.partner", "ref", "parent ref")}
        ),
        archivable=True,
    ),
    ModelSpec("product.template", "default_code", _PRODUCT_FIELDS, archivable=True),
    ModelSpec(
        "product.product",
        "default_code",
        (*_fields("product_tmpl_id lst_price barcode qty_available"), *_PRODUCT_FIELDS),
        archivable=True,
    ),
    ModelSpec(
        "product.pricelist.item",
        None,
        _fields(
            "pricelist_id applied_on product_tmpl_id product_id compute_price fixed_price "
            "min_quantity currency_id date_start date_end"
        ),
    ),
    ModelSpec(
        "sale.order",
        "client_order_ref",
        _fields(
            "name client_order_ref partner_id state date_order commitment_date user_id origin "
            "amount_untaxed amount_total currency_id invoice_status delivery_status order_line"
        ),
        MappingProxyType({"partner_ref": _PARTNER}),
    ),
    ModelSpec(
        "mrp.production",
        None,
        _fields(
            "name origin product_id product_qty qty_producing state date_start date_finished "
            "date_deadline x_sale_line_id"
        ),
    ),
    ModelSpec("stock.quant", None, _fields("product_id location_id quantity reserved_quantity")),
    ModelSpec(
        "stock.picking",
        None,
        _fields(
            "name origin partner_id sale_id picking_type_code state scheduled_date date_done "
            "carrier_tracking_ref"
        ),
    ),
    ModelSpec(
        "account.move",
        None,
        _fields(
            "name move_type partner_id invoice_origin ref invoice_date invoice_date_due state "
            "payment_state amount_untaxed amount_total amount_residual currency_id x_sale_order_id"
        ),
    ),
    ModelSpec(
        "hr.leave",
        "x_external_ref",
        _fields(
            "x_external_ref employee_id holiday_status_id request_date_from request_date_to "
            "date_from date_to number_of_days state name x_destination active"
        ),
        MappingProxyType(
            {"employee_barcode": _EMPLOYEE_BARCODE, "employee_email": _EMPLOYEE_EMAIL}
        ),
        archivable=True,
    ),
]

MODELS = MappingProxyType({spec.name: spec for spec in _SPECS})
LINE_PRODUCT = _PRODUCT


def spec_for(model: str) -> ModelSpec:
    """The spec of ``model``.

    Raises:
        SchemaError: bizbus does not know the model (the message lists the known ones).
    """
    try:
        return MODELS[model]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise SchemaError(f"odoo: unknown model {model!r}; use one of {known}") from None
