"""The Python scenario through the generated bindings (smaller than the Kotlin one): two phones take notes
offline in the same appointment with non-ASCII text, update a record request, swap exchange files and
converge; then sync through a relay started here; a wrong token is a typed exception.

Run by bindings/tests/run.sh with PYTHONPATH=bindings/generated/python and CASEBOOK_SERVER set.
"""

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

    def on_case_changed(self, case_id, origin):
        self.events.append((case_id, origin))

    def count(self, origin):
        return sum(1 for _, o in self.events if o == origin)


class Phone:
    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"casebook-py-{name}-")
        self.store = Store.open(self.dir)
        self.recorder = Recorder()
        self.store.add_observer(self.recorder)
        self.sync = None

    def close(self):
        if self.sync is not None:
            self.sync.stop()
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


def eventually(what, cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


def main():
    server = os.environ["CASEBOOK_SERVER"]
    ana, ben = Phone("ana"), Phone("ben")
    passed = failed = 0
    state = {}

    def test(name):
        def run(body):
            nonlocal passed, failed
            try:
                body()
                passed += 1
                print(f"ok   {name}")
            except Exception:
                failed += 1
                print(f"FAIL {name}")
                traceback.print_exc(file=sys.stdout)
        return run

    @test("two phones take notes offline and converge through exchange files")
    def _():
        created = ana.store.create_case("Mum", "Ana", "daughter")
        case, ana_id = created.case, created.me
        state["case_id"] = case_id = case.id()
        appt = case.add_appointment(NewAppointment(kind=AppointmentKind.SECOND_OPINION, start=f"{TODAY}T09:30"))
        req = case.add_record_request("City Hospital pathology", [RecordItem.PATHOLOGY_SLIDES], Channel.PATIENT_REQUEST)
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

    relay = RelayProcess(server)
    try:
        @test("a wrong token is a typed exception")
        def _():
            try:
                Relay.with_token(relay.url, "0" * 64).me()
                raise AssertionError("expected Unauthorized")
            except CasebookError.Unauthorized:
                pass

        @test("sync through the relay converges")
        def _():
            case_id, appt = state["case_id"], state["appt"]
            creds_a = Relay(relay.url).create_account("Ana")
            ana.sync = SyncClient.start(ana.store, relay.url, creds_a)
            acase = ana.store.open_case(case_id)
            ana.sync.share_case(acase)
            code = ana.sync.relay().create_invite(case_id, Role.EDITOR).code
            creds_b = Relay(relay.url).create_account("Ben")
            ben.sync = SyncClient.start(ben.store, relay.url, creds_b)
            ben.sync.relay().redeem_invite(code)
            bcase = ben.sync.join_case(case_id, 30_000)
            bcase.set_patient(PatientField.STAGE, "IIb")
            bcase.append_text(SharedText.APPOINTMENT_SUMMARY(appointment=appt), "まとめ 😀")
            ben.sync.sync_case(bcase)
            ben.sync.wait_until_synced(case_id, 30_000)

            def arrived():
                ana.sync.sync_case(acase)
                return acase.patient().stage == "IIb" and acase.notes(appt).summary == "まとめ 😀"

            eventually("Ben's edits on Ana's phone", arrived)
            ana.sync.wait_until_synced(case_id, 30_000)
            assert ana.sync.status(case_id).state == SyncState.UP_TO_DATE
            eventually("a relay change callback on Ana's phone", lambda: ana.recorder.count(ChangeOrigin.RELAY) > 0)
    finally:
        for p in (ana, ben):
            p.close()
        relay.close()

    print(f"python: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
