"""The ERP's own work after a sales order is confirmed, driven by the sandbox clock.

confirm (caller's uid): order/lines 'sale', one mrp.production per manufactured line
('confirmed'), an outgoing stock.picking of the goods lines ('waiting', or 'assigned' with
nothing to make; none when every line is a service, as in Odoo).
Then, every `step_s` sandbox seconds, as OdooBot (uid 1): MOs 'progress' → MOs 'done' (+stock,
picking 'assigned') → picking 'done' (-stock, qty_delivered) → account.move out_invoice 'posted'.
"""

from datetime import timedelta
from typing import Any

from bizbus.deploy.sandbox.erp.errors import UserError
from bizbus.deploy.sandbox.erp.orm import Env, odoo_datetime

__all__ = ["DEFAULT_STEP_S", "STEPS", "FulfilmentEngine", "stock_location"]

DEFAULT_STEP_S = 2.0
STEPS = ("mo_progress", "mo_done", "ship", "invoice")
_JOBS_DDL = (
    "CREATE TABLE IF NOT EXISTS _erp_jobs "
    "(order_id INTEGER PRIMARY KEY, step TEXT NOT NULL, due_at REAL NOT NULL)"
)


def stock_location(env: Env, usage: str) -> int:
    """Return the first active location of a usage ('internal' is WH/Stock)."""
    ids = env.search("stock.location", [("usage", "=", usage)], order="id", limit=1)
    if not ids:
        raise UserError(f"No stock location of type {usage!r} is configured.")
    return ids[0]


class FulfilmentEngine:
    """Runs due fulfilment steps; pure apart from the database and clock in the Env it is given."""

    def __init__(self, *, step_s: float = DEFAULT_STEP_S) -> None:
        self.step_s = step_s

    @staticmethod
    def create_tables(env: Env) -> None:
        """Create the job table (one pending step per confirmed order)."""
        env.store.db.execute(_JOBS_DDL)

    def _schedule(self, env: Env, order_id: int, step: str, due_at: float) -> None:
        env.store.db.execute(
            "INSERT OR REPLACE INTO _erp_jobs (order_id, step, due_at) VALUES (?, ?, ?)",
            (order_id, step, due_at),
        )

    def confirm(self, env: Env, order_ids: list[int]) -> None:
        """`sale.order.action_confirm`: lock the order, plan production and the delivery."""
        stock, customers = stock_location(env, "internal"), stock_location(env, "customer")
        for order in env.read(
            "sale.order", order_ids, ["state", "name", "partner_id", "order_line"], load=None
        ):
            if order["state"] not in ("draft", "sent"):
                raise UserError(
                    "It is not allowed to confirm an order in the following states: "
                    f"{order['state']}"
                )
            env.write("sale.order", [order["id"]], {"state": "sale", "date_order": env.now()})
            lines = env.read(
                "sale.order.line", order["order_line"], ["product_id", "product_uom_qty"], load=None
            )
            if lines:
                env.write("sale.order.line", [line["id"] for line in lines], {})
            goods = []
            for line in lines:
                if not line["product_id"]:
                    continue
                product = env.read(
                    "product.product", [line["product_id"]], ["x_manufacture", "type"]
                )[0]
                if product["type"] != "service":  # as in Odoo: services have no stock moves
                    goods.append((line, product))
            made = 0
            if goods:
                route = (stock, customers)
                picking = self._new_picking(env, order, route)
                for line, product in goods:
                    made += self._plan_line(env, order, line=line, product=product,
                                            picking=picking, route=route,
                                            finish=self._planned_finish(env))  # fmt: skip
                if not made:
                    self._set_picking(env, picking, "assigned")
                env.write("sale.order", [order["id"]], {"delivery_status": "pending"})
            env.log("action_confirm", "sale.order", [order["id"]], {"state": "sale"})
            first = "mo_progress" if made else "ship"
            self._schedule(env, order["id"], first, env.clock.now().timestamp() + self.step_s)

    @staticmethod
    def _new_picking(env: Env, order: dict[str, Any], route: tuple[int, int]) -> int:
        stock, customers = route
        return env.create(
            "stock.picking",
            {
                "origin": order["name"],
                "partner_id": order["partner_id"],
                "sale_id": order["id"],
                "picking_type_code": "outgoing",
                "location_id": stock,
                "location_dest_id": customers,
                "scheduled_date": env.now(),
                "state": "waiting",
            },
        )

    def _planned_finish(self, env: Env) -> str:
        """When an MO planned now is due to finish (the `mo_done` step), as Odoo text."""
        return odoo_datetime(env.clock.now() + timedelta(seconds=2 * self.step_s))

    @staticmethod
    def _plan_line(
        env: Env,
        order: dict[str, Any],
        *,
        line: dict[str, Any],
        product: dict[str, Any],
        picking: int,
        route: tuple[int, int],
        finish: str,
    ) -> int:
        """Add a goods line's move to the delivery; plan its MO if made. Returns MOs planned."""
        stock, customers = route
        env.create(
            "stock.move",
            {
                "name": order["name"],
                "reference": order["name"],
                "picking_id": picking,
                "product_id": line["product_id"],
                "product_uom_qty": line["product_uom_qty"],
                "location_id": stock,
                "location_dest_id": customers,
                "state": "waiting",
                "sale_line_id": line["id"],
            },
        )
        if not product["x_manufacture"]:
            return 0
        env.create(
            "mrp.production",
            {
                "origin": order["name"],
                "product_id": line["product_id"],
                "product_qty": line["product_uom_qty"],
                "state": "confirmed",
                "x_sale_line_id": line["id"],
                "date_deadline": env.now(),
                "date_start": env.now(),
                "date_finished": finish,  # planned; the actual end once done, as in Odoo
            },
        )
        return 1

    def cancel(self, env: Env, order_ids: list[int]) -> None:
        """`sale.order.action_cancel`: stop pending work, cancel what is not done."""
        for order in env.read("sale.order", order_ids, ["name", "state"]):
            env.store.db.execute("DELETE FROM _erp_jobs WHERE order_id = ?", (order["id"],))
            for model in ("mrp.production", "stock.picking"):
                open_ids = env.search(
                    model, [("origin", "=", order["name"]), ("state", "not in", ["done", "cancel"])]
                )
                if open_ids:
                    env.write(model, open_ids, {"state": "cancel"})
            env.write("sale.order", [order["id"]], {"state": "cancel"})
            lines = env.search("sale.order.line", [("order_id", "=", order["id"])])
            if lines:
                env.write("sale.order.line", lines, {})
            env.log("action_cancel", "sale.order", [order["id"]], {"state": "cancel"})

    def run_due(self, env: Env) -> int:
        """Run every step due at the current sandbox time; return how many ran."""
        ran = 0
        now = env.clock.now().timestamp()
        bot = env.sudo()
        while True:
            row = env.store.db.execute(
                "SELECT order_id, step, due_at FROM _erp_jobs WHERE due_at <= ? "
                "ORDER BY due_at, order_id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return ran
            order_id, step, due_at = row
            getattr(self, f"_{step}")(bot, order_id)
            ran += 1
            following = STEPS.index(step) + 1
            if following < len(STEPS):
                self._schedule(env, order_id, STEPS[following], due_at + self.step_s)
            else:
                env.store.db.execute("DELETE FROM _erp_jobs WHERE order_id = ?", (order_id,))

    def pending(self, env: Env) -> list[dict[str, Any]]:
        """Return the scheduled steps (for the control API and tests)."""
        return env.store.query("SELECT order_id, step, due_at FROM _erp_jobs ORDER BY due_at")

    # -- steps ----------------------------------------------------------------------------------
    def _productions(self, env: Env, order_id: int, states: list[str]) -> list[int]:
        name = env.read("sale.order", [order_id], ["name"])[0]["name"]
        return env.search("mrp.production", [("origin", "=", name), ("state", "in", states)])

    def _mo_progress(self, env: Env, order_id: int) -> None:
        for mo in env.read(
            "mrp.production", self._productions(env, order_id, ["confirmed"]), ["product_qty"]
        ):
            env.write(
                "mrp.production",
                [mo["id"]],
                {
                    "state": "progress",
                    "date_start": env.now(),
                    "qty_producing": mo["product_qty"],
                },
            )

    def _mo_done(self, env: Env, order_id: int) -> None:
        stock, production = stock_location(env, "internal"), stock_location(env, "production")
        mos = self._productions(env, order_id, ["confirmed", "progress"])
        for mo in env.read("mrp.production", mos, ["product_id", "product_qty", "name"], load=None):
            env.write("mrp.production", [mo["id"]], {"state": "done", "date_finished": env.now()})
            env.create(
                "stock.move",
                {
                    "name": mo["name"],
                    "reference": mo["name"],
                    "production_id": mo["id"],
                    "product_id": mo["product_id"],
                    "product_uom_qty": mo["product_qty"],
                    "quantity": mo["product_qty"],
                    "location_id": production,
                    "location_dest_id": stock,
                    "state": "done",
                },
            )
            self.move_stock(env, mo["product_id"], stock, mo["product_qty"])
        for picking in env.search(
            "stock.picking", [("sale_id", "=", order_id), ("state", "=", "waiting")]
        ):
            self._set_picking(env, picking, "assigned")

    def _ship(self, env: Env, order_id: int) -> None:
        stock = stock_location(env, "internal")
        pickings = env.search(
            "stock.picking", [("sale_id", "=", order_id), ("state", "in", ["waiting", "assigned"])]
        )
        for picking in pickings:
            moves = env.read("stock.picking", [picking], ["move_ids"])[0]["move_ids"]
            for move in env.read(
                "stock.move", moves, ["product_id", "product_uom_qty", "sale_line_id"], load=None
            ):
                env.write(
                    "stock.move",
                    [move["id"]],
                    {"state": "done", "quantity": move["product_uom_qty"]},
                )
                self.move_stock(env, move["product_id"], stock, -move["product_uom_qty"])
                if move["sale_line_id"]:
                    delivered = env.read(
                        "sale.order.line", [move["sale_line_id"]], ["qty_delivered"]
                    )[0]
                    env.write(
                        "sale.order.line",
                        [move["sale_line_id"]],
                        {
                            "qty_delivered": delivered["qty_delivered"] + move["product_uom_qty"],
                        },
                    )
            env.write("stock.picking", [picking], {"state": "done", "date_done": env.now()})
        # A service-only order has no delivery: like Odoo, its delivery_status stays unset.
        done = {"delivery_status": "full"} if pickings else {}
        env.write("sale.order", [order_id], {**done, "invoice_status": "to invoice"})

    def _invoice(self, env: Env, order_id: int) -> None:
        order = env.read(
            "sale.order",
            [order_id],
            ["name", "partner_id", "order_line", "client_order_ref", "currency_id"],
            load=None,
        )[0]
        lines = env.read(
            "sale.order.line",
            order["order_line"],
            ["product_id", "name", "product_uom_qty", "price_unit", "price_subtotal"],
            load=None,
        )
        today = env.clock.now().date()
        total = sum(line["price_subtotal"] for line in lines)
        move = env.create(
            "account.move",
            {
                "move_type": "out_invoice",
                "partner_id": order["partner_id"],
                "state": "draft",
                "invoice_origin": order["name"],
                "ref": order["client_order_ref"] or False,
                "currency_id": order["currency_id"],
                "x_sale_order_id": order_id,
                "invoice_date": today.isoformat(),
                "invoice_date_due": (today + timedelta(days=30)).isoformat(),
                "invoice_line_ids": [
                    (
                        0,
                        0,
                        {
                            "product_id": line["product_id"],
                            "name": line["name"],
                            "quantity": line["product_uom_qty"],
                            "price_unit": line["price_unit"],
                            "price_subtotal": line["price_subtotal"],
                            "sale_line_id": line["id"],
                        },
                    )
                    for line in lines
                ],
                "amount_untaxed": total,
                "amount_tax": 0.0,
                "amount_total": total,
                "amount_residual": total,
            },
        )
        env.write("account.move", [move], {"state": "posted"})
        env.log("action_post", "account.move", [move], {"state": "posted"})
        for line in lines:
            env.write("sale.order.line", [line["id"]], {"qty_invoiced": line["product_uom_qty"]})
        env.write("sale.order", [order_id], {"invoice_status": "invoiced"})

    def _set_picking(self, env: Env, picking: int, state: str) -> None:
        moves = env.read("stock.picking", [picking], ["move_ids"])[0]["move_ids"]
        if moves:
            env.write("stock.move", moves, {"state": state})
        env.write("stock.picking", [picking], {"state": state})

    @staticmethod
    def move_stock(env: Env, product_id: int, location_id: int, delta: float) -> None:
        """Add `delta` (may be negative) to the product's quant at a location."""
        quants = env.search(
            "stock.quant", [("product_id", "=", product_id), ("location_id", "=", location_id)]
        )
        if quants:
            current = env.read("stock.quant", quants[:1], ["quantity"])[0]["quantity"]
            env.write("stock.quant", quants[:1], {"quantity": current + delta})
        else:
            env.create(
                "stock.quant",
                {"product_id": product_id, "location_id": location_id, "quantity": delta},
            )
