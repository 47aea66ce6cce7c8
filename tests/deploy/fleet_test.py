"""scripts/local-fleet: HAProxy in front of three granite instances, each in a
network namespace of its own; the instances are replaced one at a time by a
new version (drain, stop, start, healthy, next) while clients send requests
through HAProxy. No request may fail, and once the roll is done every
response must come from the new version.
Usage: fleet_test.py BUILD_DIR   (PostgreSQL from the libpq environment)"""
import http.client
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from ports import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FLEET = os.path.join(ROOT, "scripts", "local-fleet")
BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else os.path.join(ROOT, "build")
OLD = os.path.join(BUILD, "granite")
NEW = os.path.join(BUILD, "tests", "granite_next")
TARGETS = ["/api/users/1", "/api/threads/1", "/api/posts/in-thread/1", "/api/users?limit=2", "/api/threads"]


def psql(sql, dbname="postgres"):
    return subprocess.run(["psql", "-X", "-q", "-At", "-d", dbname, "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


class Load:
    """Clients on keep-alive connections through HAProxy, each request
    recorded as (time it ended, status or error, Server header)."""

    def __init__(self, port, clients=4):
        self.port, self.results, self.lock = port, [], threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, i):
        conn, n = None, i
        while self.running:
            target = TARGETS[n % len(TARGETS)]
            n += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", target)
                r = conn.getresponse()
                r.read()
                outcome = (time.monotonic(), r.status, r.getheader("Server", ""), target)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                outcome = (time.monotonic(), "%s: %s" % (type(e).__name__, e), "", target)
                conn.close()
                conn = None
            with self.lock:
                self.results.append(outcome)
            time.sleep(0.002)  # a steady load, not a benchmark

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join()


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for binary in (OLD, NEW):
            if not os.access(binary, os.X_OK):
                raise unittest.SkipTest("not built: " + binary)
        cls.db = "granite_fleet_%d" % os.getpid()
        # The instances reach PostgreSQL through its Unix socket (a namespace
        # has a loopback of its own), where the test cluster authenticates by
        # peer: they connect as a role named after the user they run as.
        role = pwd.getpwuid(os.getuid()).pw_name
        if not psql("SELECT 1 FROM pg_roles WHERE rolname = '%s'" % role):
            psql('CREATE ROLE "%s" LOGIN' % role)
        psql('CREATE DATABASE %s OWNER "%s"' % (cls.db, role))
        sockets = psql("SHOW unix_socket_directories").split(",")[0].strip()
        cls.url = "host=%s port=%s dbname=%s user=%s" % (sockets, psql("SHOW port"), cls.db, role)
        env = dict(os.environ, DATABASE_URL=cls.url)
        subprocess.run([OLD, "seed", "--file", os.path.join(ROOT, "tests", "data", "forum.json")],
                       env=env, check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % cls.db)

    def fleet(self, *args, check=True):
        p = subprocess.run([FLEET] + list(args), capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        print(out, file=sys.stderr)
        if check:
            self.assertEqual(p.returncode, 0, out)
        return out

    def start(self, *extra):
        state = tempfile.mkdtemp(prefix="granite-fleet-")
        port = free_port(span=2, reuseaddr=True)  # and P+1, HAProxy's statistics
        args = ["--state", state, "--port", str(port)]
        # Cleanups run last first: down, then the state directory goes.
        self.addCleanup(shutil.rmtree, state, ignore_errors=True)
        self.addCleanup(self.fleet, "down", *args, check=False)
        self.fleet("up", *args, "--binary", OLD, "--database-url", self.url, *extra)
        return args, port

    def test_a_roll_under_load_fails_no_request_and_ends_on_the_new_version(self):
        args, port = self.start()
        old_version = subprocess.run([OLD, "version"], capture_output=True, text=True).stdout.split()[1]
        new_version = subprocess.run([NEW, "version"], capture_output=True, text=True).stdout.split()[1]
        self.assertNotEqual(old_version, new_version)
        status = self.fleet("status", *args)
        self.assertEqual(status.count(" UP"), 3, status)

        load = Load(port)
        time.sleep(1.0)
        started = time.monotonic()
        self.fleet("roll", *args, "--binary", NEW)
        rolled = time.monotonic()
        time.sleep(1.5)
        load.stop()

        results = load.results
        failed = [r for r in results if r[1] != 200]
        after = [r for r in results if r[0] > rolled]
        before = [r for r in results if r[0] < started]
        servers_after = {r[2] for r in after}
        print("fleet roll: %d requests sent, %d failed; %d before the roll (all %s), %d during, "
              "%d after it, served by %s; roll took %.1f s" % (
                  len(results), len(failed), len(before), old_version,
                  len(results) - len(before) - len(after), len(after), sorted(servers_after), rolled - started))
        self.assertGreater(len(before), 50)
        self.assertGreater(len(after), 50)
        self.assertEqual(failed[:10], [], "%d requests failed" % len(failed))
        self.assertEqual({r[2] for r in before}, {"granite/" + old_version})
        self.assertEqual(servers_after, {"granite/" + new_version})
        status = self.fleet("status", *args)
        self.assertEqual(status.count(new_version), 3, status)
        self.assertEqual(status.count(" UP"), 3, status)

    def test_without_namespaces_the_instances_share_loopback(self):
        args, port = self.start("--loopback", "--instances", "2")
        status = self.fleet("status", *args)
        self.assertEqual(status.count("127.0."), 2, status)
        self.assertEqual(status.count(" UP"), 2, status)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/users/1")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn(b'"username"', r.read())

    def scratch(self):
        d = tempfile.mkdtemp(prefix="granite-fleet-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        return d

    def test_bad_options_are_refused(self):
        for args, message in ((["up", "--instances", "0"], "--instances must be 1..99"),
                              (["up", "--port", "80"], "--port must be 1024..65534"),
                              (["roll", "--state", self.scratch()], "no fleet in"),
                              (["sideways"], "usage: scripts/local-fleet")):
            out = self.fleet(*args, check=False)
            self.assertIn(message, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
