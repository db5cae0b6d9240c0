"""The faust store URL of the worker's tables, from `BIZBUS_TABLE_STORE`.

memory re-reads each table's whole changelog at every start. rocksdb keeps the tables in the
datadir with the changelog offset they hold, so a restart reads only the records written
since; faust opens it through rocksdict (the only RocksDB binding bizbus installs).
"""

import importlib.util

from bizbus.connectors.errors import ConfigError
from bizbus.flows.settings import RuntimeSettings

__all__ = ["store_url"]

_STORES = {"memory": "memory://", "rocksdb": "rocksdb://"}


def store_url(settings: RuntimeSettings) -> str:
    """Return the faust store URL for `settings.table_store`.

    Raises:
        ConfigError: rocksdb is chosen but rocksdict is not installed.
    """
    if settings.table_store == "rocksdb" and importlib.util.find_spec("rocksdict") is None:
        raise ConfigError(
            "BIZBUS_TABLE_STORE=rocksdb needs rocksdict: install bizbus with its `rocksdb` "
            "extra (pip install 'bizbus[rocksdb]'), or set BIZBUS_TABLE_STORE=memory"
        )
    return _STORES[settings.table_store]
