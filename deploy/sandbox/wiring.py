"""Point bizbus connectors at running sandboxes: the `BIZBUS_*` environment a worker needs.

Used by the demo and the end-to-end tests; a real deployment sets the same variables to its
real CRM, ERP and OA (see deploy/.env.example).
"""

from bizbus.deploy.sandbox.dingtalk.seed import TRAVEL_PROCESS_CODE
from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE
from bizbus.deploy.sandbox.registry import SYSTEMS


def connector_env(
    urls: dict[str, str], grpc_addresses: dict[str, str] | None = None
) -> dict[str, str]:
    """Return connector settings for the sandboxes at `urls` (system name → base URL).

    The OA is the Feishu sandbox (``oa``), or the DingTalk one (``dingtalk``, which sets
    ``BIZBUS_OA_DIALECT=dingtalk`` and wins when both run).
    With the CRM's gRPC address in `grpc_addresses`, its Pub/Sub API is set too, so the CRM
    pushes its changes (Change Data Capture; `BIZBUS_CRM_MODE` defaults to push then).
    """
    env: dict[str, str] = {}
    if "crm" in urls:
        crm = SYSTEMS["crm"].credentials
        env |= {
            "BIZBUS_CRM_BASE_URL": urls["crm"],
            "BIZBUS_CRM_CLIENT_ID": crm["client_id"],
            "BIZBUS_CRM_CLIENT_SECRET": crm["client_secret"],
        }
        if grpc_addresses and "crm" in grpc_addresses:
            env["BIZBUS_CRM_PUBSUB_URL"] = f"http://{grpc_addresses['crm']}"
    if "erp" in urls:
        erp = SYSTEMS["erp"].credentials
        env |= {
            "BIZBUS_ERP_BASE_URL": urls["erp"],
            "BIZBUS_ERP_DB": erp["db"],
            "BIZBUS_ERP_LOGIN": erp["integration_login"],
            "BIZBUS_ERP_API_KEY": erp["integration_api_key"],
        }
    if "oa" in urls:
        oa = SYSTEMS["oa"].credentials
        env |= {
            "BIZBUS_OA_BASE_URL": urls["oa"],
            "BIZBUS_OA_APP_ID": oa["app_id"],
            "BIZBUS_OA_APP_SECRET": oa["app_secret"],
            "BIZBUS_OA_ENCRYPT_KEY": oa["encrypt_key"],
            "BIZBUS_OA_VERIFICATION_TOKEN": oa["verification_token"],
            "BIZBUS_OA_APPROVAL_CODES": f'["{TRAVEL_APPROVAL_CODE}"]',
        }
    if "dingtalk" in urls:
        ding = SYSTEMS["dingtalk"].credentials
        env |= {
            "BIZBUS_OA_DIALECT": "dingtalk",
            "BIZBUS_OA_BASE_URL": urls["dingtalk"],
            "BIZBUS_OA_LEGACY_BASE_URL": urls["dingtalk"],
            "BIZBUS_OA_APP_KEY": ding["app_key"],
            "BIZBUS_OA_APP_SECRET": ding["app_secret"],
            "BIZBUS_OA_CALLBACK_TOKEN": ding["callback_token"],
            "BIZBUS_OA_AES_KEY": ding["aes_key"],
            "BIZBUS_OA_PROCESS_CODES": f'["{TRAVEL_PROCESS_CODE}"]',
        }
    return env
