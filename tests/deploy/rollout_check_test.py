"""scripts/rollout --check-url against the fake AWS API, whose new instances'
addresses are local granite instances on loopback addresses of their own:
one healthy, one whose database has gone (its /health/ready answers 503),
one of the old release, and an address where nothing listens. A refresh
whose new instances all serve the new release goes on; any other is rolled
back (or cancelled where a rollback is refused), and the script exits 1
naming the instance and what it answered.
Usage: rollout_check_test.py BUILD_DIR   (PostgreSQL from the libpq environment)"""
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_aws  # noqa: E402
from ports import free_port  # noqa: E402
from rollout_test import AMI, RolloutCase  # noqa: E402

BUILD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
OLD = os.path.join(BUILD, "granite")
NEW = os.path.join(BUILD, "tests", "granite_next")
HEALTHY, BROKEN, OLD_RELEASE, NOBODY = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
ROLLING = [("InProgress", 33, 2, "")]
DONE_AFTER = [("InProgress", 33, 2, "")] * 3 + [("Successful", 100, 0, "")]


# An AWS CLI that knows rollback-instance-refresh (Debian 12's 2.9 does not):
# that one call goes straight to the fake, which checks no signature; every
# other call to Debian's CLI.
NEWER_CLI = r"""#!/bin/sh
case " $* " in
  *" rollback-instance-refresh "*) ;;
  *) exec /usr/bin/aws "$@" ;;
esac
endpoint= group=
while [ $# -gt 0 ]; do
  case $1 in
    --endpoint-url) endpoint=$2; shift ;;
    --auto-scaling-group-name) group=$2; shift ;;
  esac
  shift
done
out=$(curl -s -w '\n%{http_code}' --data-urlencode Action=RollbackInstanceRefresh \
  --data-urlencode Version=2011-01-01 --data-urlencode "AutoScalingGroupName=$group" "$endpoint/")
[ "${out##*[!0-9]}" = 200 ] && exit 0
echo "An error occurred (ValidationError) when calling the RollbackInstanceRefresh operation:" \
  "$(printf '%s' "$out" | sed -n 's/.*<Message>\(.*\)<\/Message>.*/\1/p')" >&2
exit 254
"""


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-At", "-d", "postgres", "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def drop_database(name):
    """Drops a database, ending first the walsender of a granite that
    streams its changes (WITH (FORCE) does not), again should it have taken
    the stream anew meanwhile."""
    for _ in range(20):
        psql("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
             "WHERE database = '%s' AND active_pid IS NOT NULL" % name)
        try:
            psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
            return
        except subprocess.CalledProcessError:
            time.sleep(0.1)
    psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def version(binary):
    return subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout.split()[1]


def ready_status(host, port, path="/health/ready"):
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (host, port, path), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class RolloutCheck(RolloutCase):
    @classmethod
    def setUpClass(cls):
        for binary in (OLD, NEW):
            if not os.access(binary, os.X_OK):
                raise unittest.SkipTest("not built: " + binary)
        cls.new, cls.old = version(NEW), version(OLD)
        cls.dbs = ["granite_rollout_%d" % os.getpid(), "granite_rollout_gone_%d" % os.getpid()]
        for db in cls.dbs:
            psql("CREATE DATABASE %s" % db)
        cls.port = free_port(hosts=(HEALTHY, BROKEN, OLD_RELEASE, NOBODY))  # free on every address
        cls.logs = tempfile.TemporaryDirectory()
        cls.newer_cli = os.path.join(cls.logs.name, "bin")
        os.mkdir(cls.newer_cli)
        with open(os.path.join(cls.newer_cli, "aws"), "w") as f:
            f.write(NEWER_CLI)
        os.chmod(os.path.join(cls.newer_cli, "aws"), 0o755)
        cls.servers = []
        cls.serve(NEW, HEALTHY, cls.dbs[0])
        cls.serve(NEW, BROKEN, cls.dbs[1])
        cls.serve(OLD, OLD_RELEASE, cls.dbs[0])
        # The broken instance's database goes away under it: it keeps serving
        # (/health answers 200, so a load balancer keeps it), but
        # /health/ready asks the database and answers 503.
        drop_database(cls.dbs[1])
        cls.wait_for(lambda: ready_status(BROKEN, cls.port) == 503, "the broken instance to answer 503")
        if ready_status(BROKEN, cls.port, "/health") != 200:
            cls.tearDownClass()
            raise RuntimeError("the broken instance's /health should still pass a load balancer's check")

    @classmethod
    def serve(cls, binary, host, db):
        log = open(os.path.join(cls.logs.name, host + ".log"), "w")
        p = subprocess.Popen([binary, "serve", "--workers", "1", "--port", str(cls.port), "--set", "listen.host=" + host,
                              "--set", "drain.delay_s=0", "--set", "metrics.listen="], env=dict(os.environ, DATABASE_URL="dbname=" + db),
                             stdout=log, stderr=subprocess.STDOUT)
        cls.servers.append(p)
        log.close()
        cls.wait_for(lambda: ready_status(host, cls.port) == 200, "granite on " + host, log.name)

    @classmethod
    def wait_for(cls, predicate, what, log=None):
        deadline = time.monotonic() + 30
        while not predicate():
            if time.monotonic() > deadline:
                cls.tearDownClass()
                with open(log or os.devnull) as f:
                    raise RuntimeError("gave up waiting for %s\n%s" % (what, f.read()))
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        for p in cls.servers:
            p.terminate()
        for p in cls.servers:
            p.wait(timeout=30)
        cls.servers = []
        for db in cls.dbs:
            drop_database(db)

    def scenario(self, states, *instances, **kw):
        kw.setdefault("ami_name", "granite-%s-20261203070000" % self.new)
        # The group's instance of the version before the refresh is never asked.
        return fake_aws.Scenario(states, instances=[("i-0000000000000000a", "127.0.0.9", "3", "InService")] +
                                 list(instances), **kw)

    def check(self, s, *extra, url=None, newer_cli=True):
        return self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1", "--poll", "0.2",
                                "--check-url", url or "http://{ip}:%d" % self.port, "--check-grace", "2", *extra,
                                path_first=self.newer_cli if newer_cli else None)

    def test_new_instances_that_serve_the_new_release_let_the_refresh_go_on(self):
        s = self.scenario(DONE_AFTER, ("i-0healthy000000001", HEALTHY, "8", "InService"),
                          ("i-0pending000000001", NOBODY, "8", "Pending"))
        self.assertEqual(self.check(s), 0, self.output)
        self.assertIn("200 from granite/%s within 2 s of InService" % self.new, self.output)
        self.assertIn("check: i-0healthy000000001 (%s) answered 200 from granite/%s" % (HEALTHY, self.new),
                      self.output)
        self.assertIn("rollout of %s to forum-api done" % AMI, self.output)
        self.assertNotIn("CancelInstanceRefresh", self.actions(s))
        self.assertNotIn("RollbackInstanceRefresh", self.actions(s))
        # Only the new, InService instance was looked up (and once it passed, no more).
        asked = [p for a, p in s.calls if a == "DescribeInstances"]
        self.assertEqual(asked, [{"InstanceId.1": "i-0healthy000000001"}])

    def test_a_new_instance_without_its_database_rolls_the_refresh_back(self):
        s = self.scenario(ROLLING, ("i-0healthy000000001", HEALTHY, "8", "InService"),
                          ("i-0broken0000000001", BROKEN, "8", "InService"))
        self.assertEqual(self.check(s), 1, self.output)
        self.assertEqual(self.params(s, "RollbackInstanceRefresh"), {"AutoScalingGroupName": "forum-api"})
        self.assertNotIn("CancelInstanceRefresh", self.actions(s))
        self.assertIn("i-0broken0000000001 (%s) did not pass within 2 s of InService: 503 from "
                      "granite/%s" % (BROKEN, self.new), self.output)
        self.assertIn("ended RollbackSuccessful", self.output)
        self.assertIn("rolling back instance refresh", self.output)

    def test_with_an_aws_cli_that_cannot_roll_back_the_refresh_is_cancelled(self):
        s = self.scenario(ROLLING, ("i-0broken0000000001", BROKEN, "8", "InService"))
        self.assertEqual(self.check(s, newer_cli=False), 1, self.output)
        if "RollbackInstanceRefresh" in self.actions(s):
            self.skipTest("this machine's AWS CLI can roll back: " + self.output.splitlines()[-1])
        self.assertRegex(self.output, r"this AWS CLI \(aws-cli/[0-9.]+\) has no rollback-instance-refresh: cancelling")
        self.assertEqual(self.params(s, "CancelInstanceRefresh"), {"AutoScalingGroupName": "forum-api"})
        self.assertIn("ended Cancelled", self.output)
        self.assertIn("i-0broken0000000001 (%s) did not pass" % BROKEN, self.output)

    def test_the_old_release_on_a_group_at_latest_cancels_the_refresh(self):
        s = self.scenario(ROLLING, ("i-0oldrelease000001", OLD_RELEASE, "8", "InService"),
                          asg_template_version="$Latest")
        self.assertEqual(self.check(s), 1, self.output)
        self.assertNotIn("RollbackInstanceRefresh", self.actions(s))
        self.assertIn("no rollback for a group on launch template version $Latest", self.output)
        self.assertEqual(self.params(s, "CancelInstanceRefresh"), {"AutoScalingGroupName": "forum-api"})
        self.assertIn("i-0oldrelease000001 (%s) did not pass within 2 s of InService: 200 from "
                      "granite/%s" % (OLD_RELEASE, self.old), self.output)
        self.assertIn("ended Cancelled", self.output)

    def test_a_refused_rollback_falls_back_to_a_cancel(self):
        s = self.scenario(ROLLING, ("i-0nobody0000000001", NOBODY, "8", "InService"), refuse_rollback=True)
        self.assertEqual(self.check(s), 1, self.output)
        a = self.actions(s)
        self.assertLess(a.index("RollbackInstanceRefresh"), a.index("CancelInstanceRefresh"))
        self.assertIn("the rollback was refused (An error occurred (ValidationError) when calling the "
                      "RollbackInstanceRefresh operation: Rollback is not supported", self.output)
        self.assertIn("i-0nobody0000000001 (%s) did not pass within 2 s of InService: no answer" % NOBODY,
                      self.output)
        self.assertIn("ended Cancelled", self.output)

    def test_through_the_load_balancer_the_new_release_must_answer_200(self):
        s = self.scenario(ROLLING)
        self.assertEqual(self.check(s, url="http://%s:%d/" % (BROKEN, self.port)), 1, self.output)
        self.assertIn("through http://%s:%d, the new release answered 503 from granite/%s" % (
            BROKEN, self.port, self.new), self.output)
        self.assertIn("RollbackInstanceRefresh", self.actions(s))
        self.assertNotIn("DescribeInstances", self.actions(s))

    def test_bad_check_options_are_refused(self):
        s = self.scenario(DONE_AFTER)
        base = ["--asg", "g", "--ami", AMI, "--region", "r"]
        for args, message in ((base + ["--check-url", "ftp://host"], "must be an http:// or https:// URL"),
                              (base + ["--release", "granite/1"], "go with --check-url"),
                              (base + ["--check-url", "http://{ip}:8080", "--check-grace", "soon"],
                               "must be a whole number")):
            with self.subTest(args=args):
                self.assertEqual(self.run_rollout(s, *args), 2, self.output)
                self.assertIn(message, self.output)
        self.assertEqual(s.calls, [])
        s = self.scenario(DONE_AFTER, ami_name="forum-image-7")
        self.assertEqual(self.run_rollout(s, *base, "--check-url", "http://{ip}:8080"), 2, self.output)
        self.assertIn("cannot tell the release from the AMI's name 'forum-image-7'", self.output)
        self.assertEqual(self.actions(s), ["DescribeImages"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
