"""The ledger: what every campaign row became and everything later seen of its order.

Public: `Ledger` (the store, the one class other packages talk to) and the records it
returns. Private: `engine` (one schema and one set of queries on SQLite and PostgreSQL),
`files` (opening and refusing files), `postgres` (the team ledger), `transactions`,
`backups`, `migrations` (tables), `rows`/`orders` (queries), `claims` (exactly once across
processes), `lock`, `identity`.
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "Ledger": "store",
    "Campaign": "records",
    "LedgerRow": "records",
    "OrderRecord": "records",
    "PlannedRow": "records",
    "RowState": "records",
    "assign_identities": "identity",
    "canonical_content": "identity",
    "file_stamp": "files",
    "LedgerLocation": "location",
    "mask_url": "location",
    "is_url": "location",
    "LedgerInfo": "info",
    "info_text": "info",
    "ledger_info": "info",
    "Transfer": "transfer",
    "migrate_ledger": "transfer",
    "transfer_text": "transfer",
    "row_identity": "identity",
    "BalanceReading": "finance",
    "balance_readings": "finance",
    "order_columns": "finance",
    "order_operators": "operators",
    "record_balance": "finance",
    "record_row_columns": "finance",
    "Interval": "reconcile",
    "balance_warning": "reconcile",
    "intervals": "reconcile",
    "net_spend": "reconcile",
    "note_balance": "reconcile",
    "keep_reading": "reconcile",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
