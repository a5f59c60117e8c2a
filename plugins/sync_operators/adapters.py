"""Adapters from the API clients and the state store to the applier's small protocols.

The applier (``sync_engine.apply``) only knows "write these records, tell me what happened to each";
these classes translate that to ``HeymarketHook``, ``SalesforceAccess`` and ``StateStore`` calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from sync_engine.apply import SalesforceRecord, WriteOutcome

if TYPE_CHECKING:
    from heymarket_hook import HeymarketHook
    from salesforce_access import SalesforceAccess
    from salesforce_access.writes import WriteResult
    from sync_engine.state import StateStore
    from sync_operators.runtime import RunFolder


class HookHeymarketWriter:
    """Creates/updates through the v2 bulk endpoint (it answers with ids), deletes in bulk by UUID."""

    def __init__(self, hook: HeymarketHook) -> None:
        self.hook = hook

    def upsert(self, contacts: list[dict[str, object]]) -> list[WriteOutcome]:
        outcomes = self._write(contacts)
        # A create refused because the phone already exists (a contact made by hand, or a batch written
        # just before a kill) becomes an update of that contact: phone is the key on both sides.
        retry = [i for i, (sent, outcome) in enumerate(zip(contacts, outcomes, strict=True))
                 if not outcome.ok and not sent.get("contact_id") and _phone_taken(outcome.message)]
        taken = self.hook.find_contacts_by_phone([str(contacts[i]["phone"]) for i in retry]) if retry else {}
        existing = {i: taken.get(str(contacts[i]["phone"])) for i in retry}
        updates = {i: {**contacts[i], "contact_id": c["uuid"]} for i, c in existing.items() if c and c.get("uuid")}
        if updates:
            for i, outcome in zip(updates, self._write(list(updates.values())), strict=True):
                outcomes[i] = outcome
        return outcomes

    def _write(self, contacts: list[dict[str, object]]) -> list[WriteOutcome]:
        result = self.hook.bulk_create_or_update(contacts, batch_size=max(len(contacts), 1))
        failed = {f.index: f for f in result.failures if f.index is not None}
        by_uuid = {str(c.get("uuid")): c for c in result.updated}
        by_phone = {str(c.get("phone")): c for c in result.created}
        outcomes = []
        for index, sent in enumerate(contacts):
            if index in failed:
                outcomes.append(WriteOutcome(ok=False, error_code="REJECTED",
                                             message=without_values(failed[index].error or "", sent)))
                continue
            written = by_uuid.get(str(sent.get("contact_id"))) if sent.get("contact_id") else None
            written = written or by_phone.get(str(sent.get("phone")))
            if written is None:
                outcomes.append(WriteOutcome(ok=False, error_code="NOT_CONFIRMED",
                                             message="Heymarket did not return this contact; retried next run"))
            else:
                outcomes.append(WriteOutcome(ok=True, hm_id=int(written["id"]), hm_uuid=str(written.get("uuid"))))
        return outcomes

    def delete(self, contacts: list[tuple[int, str | None]]) -> list[WriteOutcome]:
        from heymarket_hook.errors import HeymarketNotFound

        uuids = [uuid for _, uuid in contacts if uuid]
        if uuids:
            self.hook.bulk_delete(uuids, batch_size=max(len(uuids), 1))
        for hm_id, uuid in contacts:
            if not uuid:  # no UUID on record (old link): the v1 endpoint deletes by id
                try:
                    self.hook.delete_contact(hm_id)
                except HeymarketNotFound:
                    pass  # already gone: deleted is deleted
        return [WriteOutcome(ok=True, hm_id=hm_id, hm_uuid=uuid) for hm_id, uuid in contacts]


def _phone_taken(message: str | None) -> bool:
    """Heymarket's words for "this phone already has a contact" (undocumented; see the emulator's choices)."""
    text = (message or "").lower()
    return "phone" in text and ("already" in text or "exists" in text)


class AccessSalesforceWriter:
    """Creates and updates through ``SalesforceAccess`` (Collections, or Bulk 2.0 above its threshold)."""

    def __init__(self, access: SalesforceAccess) -> None:
        self.access = access

    def create(self, object_name: str, records: list[SalesforceRecord]) -> list[WriteOutcome]:
        results = self.access.create(object_name, records)
        return [self._outcome(r, sent) for r, sent in zip(results, records, strict=True)]

    def update(self, object_name: str, records: list[SalesforceRecord]) -> list[WriteOutcome]:
        results = self.access.update(object_name, records)
        return [self._outcome(r, sent) for r, sent in zip(results, records, strict=True)]

    @staticmethod
    def _outcome(result: WriteResult, sent: Mapping[str, object]) -> WriteOutcome:
        if result.success:
            return WriteOutcome(ok=True, sf_id=result.id)
        first = result.errors[0] if result.errors else {"statusCode": "UNKNOWN", "message": ""}
        message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.errors)
        return WriteOutcome(ok=False, sf_id=result.id, error_code=str(first.get("statusCode")),
                            message=without_values(message, sent))


def without_values(message: str, sent: Mapping[str, object]) -> str:
    """The API's error text with every value we sent masked (record ids stay: they say which record).

    Salesforce quotes the offending value in some messages (``data value too large: <value> (max
    length=10)``); names and the like are personal data and must not reach the error table.
    """
    custom = sent.get("custom")
    flat = [*sent.items(), *(custom.items() if isinstance(custom, Mapping) else ())]  # Heymarket nests custom fields
    from sync_engine.state.redaction import scrub_values

    return scrub_values(message, (v for k, v in flat if k not in {"Id", "contact_id", "custom"}))


def uuid_map(folder: RunFolder, store: StateStore) -> Mapping[int, str]:
    """Heymarket id -> UUID, from this run's extract and the link table (v2 writes need the UUID).

    Read on first look-up: an apply with nothing to update or link (an initial sync's Salesforce side, say)
    never needs it, and the whole link table takes seconds to read at 100,000 links.
    """
    return _LazyUuidMap(folder, store)


class _LazyUuidMap(Mapping[int, str]):
    def __init__(self, folder: RunFolder, store: StateStore) -> None:
        self._folder = folder
        self._store = store
        self._mapping: dict[int, str] | None = None

    def _loaded(self) -> dict[int, str]:
        if self._mapping is None:
            import pandas as pd

            mapping: dict[int, str] = {}
            links = self._store.load_links()
            if "hm_uuid" in links:
                for hm_id, uuid in zip(links["hm_id"], links["hm_uuid"], strict=True):
                    if uuid is not None and not pd.isna(uuid):
                        mapping[int(hm_id)] = str(uuid)
            if self._folder.exists("heymarket.parquet"):
                frame = self._folder.read_frame("heymarket.parquet")
                for hm_id, uuid in zip(frame["hm_id"], frame["hm_uuid"], strict=True):
                    if uuid is not None and not pd.isna(uuid):
                        mapping[int(hm_id)] = str(uuid)
            self._mapping = mapping
        return self._mapping

    def __getitem__(self, hm_id: int) -> str:
        return self._loaded()[hm_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


class StoreApplyState:
    """The applier's per-batch commit on the ``StateStore``: links, errors, retries, lock lease, one transaction.

    ``synced`` values are merged key by key: a batch that wrote only ``email`` must not forget what was
    agreed for the other keys. The current values are read once, at the first commit (the sync lock
    guarantees no other writer; an apply with nothing to write never reads them), and kept up to date as
    batches commit. Every commit also renews the sync lock's lease; a run that lost
    its lock (expired and taken over) fails the commit instead of writing next to another run.
    """

    def __init__(self, store: StateStore, lock_run_id: str, lock_ttl_seconds: int = 15 * 60) -> None:
        from sync_engine.state import SYNC_LOCK

        self.store = store
        self.lock_run_id = lock_run_id
        self.lock_name = SYNC_LOCK
        self.lock_ttl_seconds = lock_ttl_seconds
        self._synced_by_key: dict[tuple[str, str], dict[str, str | None]] | None = None

    @property
    def _synced(self) -> dict[tuple[str, str], dict[str, str | None]]:
        if self._synced_by_key is None:
            import pandas as pd

            from sync_engine.state import SYNCED_PREFIX

            links = self.store.load_links()
            links = links[links["sf_id"].notna()]  # released rows have no record
            synced_columns = [c for c in links.columns if c.startswith(SYNCED_PREFIX)]
            synced: dict[tuple[str, str], dict[str, str | None]] = {}
            for row in links[["object", "sf_id", *synced_columns]].itertuples(index=False, name=None):
                values = dict(zip(synced_columns, row[2:], strict=True))
                synced[(str(row[0]), str(row[1]))] = {
                    column[len(SYNCED_PREFIX):]: (None if pd.isna(value) else str(value))
                    for column, value in values.items()
                }
            self._synced_by_key = synced
        return self._synced_by_key

    def commit_batch(self, run_id, upserts, deletes, failures, succeeded, releases=(), outcomes=()) -> None:  # noqa: ANN001
        from sync_engine.state import LinkRow, RecordRef, RetryRequest, WriteRejection

        # A released pair's memory stays with its contact; its record starts afresh (a takeover in this batch
        # stores the whole memory of its new pair).
        for release in releases:
            self._synced.pop((release.object, release.sf_id), None)
        rows = []
        merged_by_key: dict[tuple[str, str], dict[str, str | None]] = {}
        for change in upserts:
            key = (change.object, change.sf_id)
            merged = {**self._synced.get(key, {}), **change.synced}
            merged_by_key[key] = merged
            rows.append(LinkRow(object=change.object, sf_id=change.sf_id, hm_id=change.hm_id, phone=change.phone,
                                status=change.status, synced=merged, hm_uuid=change.hm_uuid))
        # A successful write settles every open error of that record on that target, whatever its action:
        # an update rejected because the contact was deleted is settled by the create that replaces it.
        refs = [RecordRef(target=target, object=obj, sf_id=sf_id, hm_id=hm_id, action=None)
                for obj, sf_id, hm_id, target, _action in succeeded]
        with self.store.transaction() as conn:
            if rows or deletes or releases:
                self.store.apply_link_changes(
                    rows, [(k.object, k.sf_id) if k.sf_id is not None else k.hm_id for k in deletes], run_id,
                    conn=conn, releases=[(r.object, r.sf_id, r.hm_id) for r in releases],
                )
            if failures:
                self.store.record_errors(run_id, [
                    WriteRejection(target=f.target, action=f.action, error_code=f.error_code, object=f.object,
                                  sf_id=f.sf_id, hm_id=f.hm_id, message=f.message, scrub=f.scrub) for f in failures
                ], conn=conn)
                self.store.enqueue_retries([
                    RetryRequest(target=f.target, action=f.action, object=f.object, sf_id=f.sf_id, hm_id=f.hm_id,
                                 error_code=f.error_code, fingerprint=f.fingerprint) for f in failures
                ], run_id, conn=conn)
            if refs:
                self.store.resolve_errors(refs, run_id, conn=conn)
                self.store.clear_retries(refs, conn=conn)
            if outcomes:
                self.store.write_record_outcomes(run_id, outcomes, conn=conn)
            self.store.heartbeat(self.lock_name, self.lock_run_id, self.lock_ttl_seconds, conn=conn)
        for key in deletes:  # in the store's order: the batch's deletes, then its upserts
            self._synced.pop((key.object, key.sf_id), None)
        self._synced.update(merged_by_key)


def salesforce_refused_id(exc: Exception) -> str | None:
    """The error code when *exc* is Salesforce refusing an id in a query (``None``: any other failure).

    The extract stage then reads the requested ids one by one, so a refused id costs only itself.
    """
    from salesforce_access import SalesforceRequestError

    if isinstance(exc, SalesforceRequestError) and "invalid id" in str(exc).lower():
        return exc.error_code or "invalid ID"
    return None


def heymarket_missing(exc: Exception) -> bool:
    """Whether *exc* says a Heymarket contact is gone (deleted, or never existed)."""
    from heymarket_hook.errors import HeymarketNotFound

    return isinstance(exc, HeymarketNotFound)
