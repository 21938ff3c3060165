"""anxind under valgrind through a short life: start, an SOS, a bad message,
a repeat, a registry change, SIGHUP, SIGTERM. No invalid access, no use of
uninitialised memory, nothing definitely or indirectly lost."""
import os
import shutil
import signal
import subprocess
import unittest

import harness as h


@unittest.skipUnless(shutil.which("valgrind"), "valgrind not installed")
@unittest.skipIf("asan" in h.BUILD, "valgrind does not run sanitizer builds")
class Valgrind(unittest.TestCase):
    def test_anxind_is_valgrind_clean(self):
        db = h.fresh_db("vg")
        h.import_registry(db, h.sample_registry(2))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url)
        vlog = os.path.join(d.dir, "valgrind.log")
        logf = open(d.log_path, "w")
        d.proc = subprocess.Popen(
            ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
             "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
             "--log-file=" + vlog, h.anxind_path(), "-c", d.conf],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        pub = None
        try:
            h.wait_for(d.ready, 90, what="anxind ready under valgrind")
            pub = h.publisher()
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            h.publish(pub, d.topic("E-SOS-0001"), b"not json")
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            cap.wait_count(2, timeout=30)
            h.psql(db, "UPDATE contacts SET name = 'changed' WHERE elder_id = 'E0002'")
            h.wait_for(lambda: d.metric("anxin_registry_reloads_total") >= 1, 30,
                       what="registry reload")
            d.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: "reload: configuration applied" in d.log(), 30, what="reload")
            d.proc.send_signal(signal.SIGTERM)
            rc = d.proc.wait(90)
        finally:
            if pub:
                pub.loop_stop()
            if d.proc and d.proc.poll() is None:
                d.proc.kill()
            cap.close()
        report = open(vlog).read()
        self.assertIn("ERROR SUMMARY: 0 errors", report, report[-3000:])
        self.assertEqual(rc, 0, report[-3000:])


if __name__ == "__main__":
    unittest.main()
