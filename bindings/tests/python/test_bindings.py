"""The Python scenario through the generated bindings (smaller than the Kotlin one): two phones take notes
offline in the same appointment with non-ASCII text, update a record request, swap exchange files and
converge; then sync through a relay started here: edits reach the other phone's open case by themselves
(autosave + live merge), remote changes name their sections, a paused phone catches up when resumed; a
wrong token is a typed exception. The relay and sync calls are coroutines (`asyncio.run`).

Run by bindings/tests/run.sh with PYTHONPATH=bindings/generated/python and CASEBOOK_SERVER set.
"""

import asyncio
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from casebook_ffi import (
    AppointmentKind,
    AttachTarget,
    AttachmentTransferObserver,
    TargetKind,
    CaseObserver,
    CasebookError,
    ChangeOrigin,
    Channel,
    EventKind,
    NewAppointment,
    NewRequestEvent,
    PatientField,
    RecordItem,
    Relay,
    Role,
    CaseSection,
    SharedText,
    Store,
    SyncClient,
    SyncState,
)

TODAY = datetime.date.today().isoformat()
FORTY_DAYS_AGO = (datetime.date.today() - datetime.timedelta(days=40)).isoformat()
ANA = "Médecin: d'accord 😀"
BEN = "診断: 肺腺癌 😀"


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


class Recorder(CaseObserver):
    def __init__(self):
        self.events = []

    def on_case_changed(self, case_id, change):
        self.events.append((case_id, change))

    def count(self, origin):
        return sum(1 for _, c in self.events if c.origin == origin)

    def remote(self, case_id):
        return [c for i, c in self.events if i == case_id and c.origin == ChangeOrigin.REMOTE]


class Phone:
    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"casebook-py-{name}-")
        self.store = Store.open(self.dir)
        self.recorder = Recorder()
        self.store.add_observer(self.recorder)
        self.sync = None

    async def close(self):
        if self.sync is not None:
            await self.sync.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RelayProcess:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="casebook-py-relay-")
        env = dict(os.environ, NO_COLOR="1")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(self.dir, "data"),
             "--accounts-per-hour", "10000", "--auth-failures-per-minute", "10000", "--shutdown-grace-secs", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        deadline = time.time() + 30
        addr = None
        while addr is None and time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"relay listening.*addr=(\S+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
            addr = m.group(1) if m else None
        if addr is None:
            raise RuntimeError("the relay did not print its address")
        self.url = f"http://{addr}"
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


async def eventually(what, cond, timeout=20.0):
    """Poll cond() until it holds (a deadline, not a fixed sleep)."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


async def main():
    server = os.environ["CASEBOOK_SERVER"]
    ana, ben = Phone("ana"), Phone("ben")
    passed = failed = 0
    state = {}

    async def run_test(name, body):
        """Run one test (a plain function or a coroutine function) and report it."""
        nonlocal passed, failed
        try:
            result = body()
            if asyncio.iscoroutine(result):
                await result
            passed += 1
            print(f"ok   {name}")
        except Exception:
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)

    def offline():
        created = ana.store.create_case("Mum", "Ana", "daughter")
        case, ana_id = created.case, created.me
        state["case_id"] = case_id = case.id()
        appt = case.add_appointment(NewAppointment(kind=AppointmentKind.SECOND_OPINION, start=f"{TODAY}T09:30"))
        req = case.add_record_request("City Hospital pathology", [RecordItem.PATHOLOGY_SLIDES, RecordItem.PATHOLOGY_REPORT], Channel.PATIENT_REQUEST)
        case.save()
        ben.store.import_changes(ana.store.export_changes(case_id))
        assert ben.recorder.count(ChangeOrigin.IMPORT) == 1
        bcase = ben.store.open_case(case_id)
        ben_id = bcase.add_caregiver("Ben", "son")
        ben.store.set_me(case_id, ben_id)

        case.append_text(SharedText.APPOINTMENT_NOTES(appointment=appt, author=ana_id), ANA)
        bcase.append_text(SharedText.APPOINTMENT_NOTES(appointment=appt, author=ben_id), BEN)
        case.log_request_event(req, NewRequestEvent(kind=EventKind.REQUESTED_IN_WRITING, date=FORTY_DAYS_AGO, by=ana_id))
        bcase.log_request_event(req, NewRequestEvent(kind=EventKind.FOLLOWED_UP, date=TODAY, by=ben_id))
        case.save()
        bcase.save()
        assert ana.recorder.count(ChangeOrigin.LOCAL) >= 4
        # Lengths are UTF-16 code units, not Python's code points.
        assert case.text_len(SharedText.APPOINTMENT_NOTES(appointment=appt, author=ana_id)) == utf16_len(ANA)
        try:
            case.splice_text(SharedText.APPOINTMENT_NOTES(appointment=appt, author=ana_id), utf16_len(ANA) - 1, 0, "x")
            raise AssertionError("cutting the emoji must be refused")
        except CasebookError.InvalidInput:
            pass

        ben.store.import_changes(ana.store.export_changes(case_id, bcase.state()))
        ana.store.import_changes(ben.store.export_changes(case_id, case.state()))
        a, b = ana.store.open_case(case_id), ben.store.open_case(case_id)
        assert a.notes(appt) == b.notes(appt)
        texts = {n.author: n.text for n in a.notes(appt).by_author}
        assert texts == {ana_id: ANA, ben_id: BEN}, texts
        assert a.record_requests() == b.record_requests()
        assert len(a.overdue_requests(TODAY)) == 1
        state.update(appt=appt, ana_id=ana_id, ben_id=ben_id)

    await run_test("two phones take notes offline and converge through exchange files", offline)

    relay = RelayProcess(server)
    try:
        async def wrong_token():
            try:
                await Relay.with_token(relay.url, "0" * 64).me()
                raise AssertionError("expected Unauthorized")
            except CasebookError.Unauthorized:
                pass

        await run_test("a wrong token is a typed exception", wrong_token)

        async def live_sync():
            case_id, appt = state["case_id"], state["appt"]
            creds_a = await Relay(relay.url).create_account("Ana")
            ana.sync = SyncClient.start(ana.store, relay.url, creds_a)
            # Ana's case is open before anything arrives: Ben's edits are merged into this very object. Her
            # appointment screen shows its notes (a case opens an appointment's notes when they are first read).
            acase = ana.store.open_case(case_id)
            assert acase.notes(appt).summary == ""
            await ana.sync.share_case(acase)
            code = (await ana.sync.relay().create_invite(case_id, Role.EDITOR)).code
            creds_b = await Relay(relay.url).create_account("Ben")
            ben.sync = SyncClient.start(ben.store, relay.url, creds_b)
            await ben.sync.relay().redeem_invite(code)
            bcase = await ben.sync.join_case(case_id, 30_000)
            # No save or sync call: the autosave saves and sends, Ana's client merges into her open case.
            bcase.set_patient(PatientField.STAGE, "IIb")
            bcase.append_text(SharedText.APPOINTMENT_SUMMARY(appointment=appt), "まとめ 😀")
            await eventually(
                "Ben's edits in Ana's open case (live merge)",
                lambda: acase.patient().stage == "IIb" and acase.notes(appt).summary == "まとめ 😀",
                timeout=30.0)
            # The observers hear a merge just after it is visible in the case: wait for them too.
            await eventually("a REMOTE change naming PATIENT", lambda: any(
                CaseSection.PATIENT in c.sections for c in ana.recorder.remote(case_id)))
            await eventually("a REMOTE change naming NOTES of the appointment", lambda: any(
                CaseSection.NOTES in c.sections and appt in c.appointments for c in ana.recorder.remote(case_id)))
            await ana.sync.wait_until_synced(case_id, 30_000)
            assert ana.sync.status(case_id).state == SyncState.UP_TO_DATE
            state.update(acase=acase, bcase=bcase)

        await run_test("sync through the relay: edits reach the other phone's open case by themselves", live_sync)

        async def pause_resume():
            case_id, appt, acase, bcase = state["case_id"], state["appt"], state["acase"], state["bcase"]
            summary = SharedText.APPOINTMENT_SUMMARY(appointment=appt)
            ben.sync.pause()
            await eventually("Ben's phone is disconnected", lambda: not ben.sync.is_connected())
            assert ben.sync.status(case_id).state == SyncState.OFFLINE
            acase.append_text(summary, " + Ana")
            await ana.sync.sync_and_wait(acase, 30_000)
            await asyncio.sleep(1.5)
            assert not bcase.text(summary).endswith("+ Ana"), "a paused phone received a change"
            ben.sync.resume()
            await eventually("Ben's open case catches up after resume", lambda: bcase.text(summary).endswith("+ Ana"),
                             timeout=30.0)

        await run_test("pause and resume: a paused phone catches up", pause_resume)

        async def background_blobs():
            case_id, appt, acase, bcase = state["case_id"], state["appt"], state["acase"], state["bcase"]

            class Moves(AttachmentTransferObserver):
                def __init__(self):
                    self.seen = []

                def on_attachment_progress(self, case_id, attachment_id, upload, done, total):
                    self.seen.append((case_id, attachment_id, upload, done, total))

            moves = Moves()
            ben.sync.add_attachment_observer(moves)
            ana.sync.set_move_attachments(True)
            ben.sync.set_move_attachments(True)
            data = os.urandom(1_500_000)
            path = os.path.join(ana.dir, "scan.pdf")
            with open(path, "wb") as f:
                f.write(data)
            blob = await ana.store.store_blob(path, False)
            target = AttachTarget(kind=TargetKind.APPOINTMENT, id=appt)
            att = acase.attach_stored(target, blob, "scan.pdf", "application/pdf", None)
            # No upload or download call: the autosave pushes, Ana's client uploads, Ben pins and his downloads.
            await eventually("the reference on Ben's phone", lambda: any(a.id == att.id for a in bcase.attachments(None)),
                             timeout=30.0)
            ben.store.keep_offline(case_id, att.id, True)
            await eventually("the pinned scan on Ben's phone", lambda: bcase.attachment(att.id).on_device, timeout=60.0)
            assert bcase.read_attachment(att.id) == data
            await eventually("Ben's download progress", lambda: (case_id, att.id, False, len(data), len(data)) in moves.seen)

            # An exchange file carries it too; a third device imports it without a relay.
            acase.save()
            cbx = os.path.join(ana.dir, "case.cbx")
            report = await ana.store.export_exchange_file(case_id, cbx)
            assert report.attachments == 1, report
            third = Store.in_memory()
            imported = await third.import_exchange_file(cbx)
            assert imported.new_attachments == 1, imported
            assert third.open_case(case_id).read_attachment(att.id) == data
            assert (await ana.sync.retain_attachments(case_id)).deleted == 0
            assert (await ana.store.collect_blobs()).deleted == 0

        await run_test("attachments move by themselves and in exchange files", background_blobs)
    finally:
        for p in (ana, ben):
            await p.close()
        relay.close()

    print(f"python: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
