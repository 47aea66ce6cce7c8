"""packer/db-password (granite-db-password.service and .timer) against the
fake's Secrets Manager, and Debian's AWS CLI computing an RDS IAM token: the
libpq password file written whole and 0600 with the password escaped as libpq
reads it; a secret that cannot be read or holds no password leaves the file
as it was and says why, never the password. Then libpq itself reads the
file: psql signs in to a cluster of the test's own with the password the
file holds, and with the next one after a rotation."""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_aws  # noqa: E402
from ports import free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "packer", "db-password")
SECRET_ID = "forum/prod/db"
# Every character libpq's password file treats specially, and a few others.
PASSWORD = "p:a\\ss w0rd'\"$"
ESCAPED = "p\\:a\\\\ss w0rd'\"$"


class DbPassword(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.TemporaryDirectory()
        self.addCleanup(self.home.cleanup)
        self.file = os.path.join(self.home.name, "pgpass")

    def run_script(self, scenario, *args, endpoint=True):
        url = fake_aws.serve_for(self, scenario)
        env = fake_aws.cli_env(self.home.name)
        cmd = [SCRIPT, "--file", self.file, "--region", "eu-west-1", "--owner", "root"] + list(args) + (
            ["--endpoint-url", url] if endpoint else [])
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: os.umask(0o022))
        self.output = p.stdout + p.stderr
        print("\n$ db-password " + " ".join(args) + "\n" + self.output, file=sys.stderr)
        return p.returncode

    def content(self):
        with open(self.file) as f:
            return f.read()

    def old_file(self):
        with open(self.file, "w") as f:
            f.write("*:*:*:*:the-old-one\n")
        os.chmod(self.file, 0o600)

    def test_a_json_secret_gives_its_password_field_escaped_0600(self):
        s = fake_aws.Scenario([], secrets={SECRET_ID: json.dumps({"username": "granite", "password": PASSWORD,
                                                                  "engine": "postgres"})})
        self.old_file()
        self.assertEqual(self.run_script(s, "--secret-id", SECRET_ID), 0, self.output)
        self.assertEqual(self.content(), "*:*:*:*:" + ESCAPED + "\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.file).st_mode), 0o600)
        self.assertEqual([c[0] for c in s.calls], ["GetSecretValue"])
        self.assertEqual(s.calls[0][1]["SecretId"], SECRET_ID)
        self.assertIn("wrote %s from Secrets Manager secret %s" % (self.file, SECRET_ID), self.output)
        self.assertNotIn("w0rd", self.output)

    def test_a_plain_secret_is_the_password(self):
        s = fake_aws.Scenario([], secrets={SECRET_ID: "plain-password"})
        self.assertEqual(self.run_script(s, "--secret-id", SECRET_ID), 0, self.output)
        self.assertEqual(self.content(), "*:*:*:*:plain-password\n")

    def test_what_is_no_password_leaves_the_file_as_it_was(self):
        cases = [
            ({}, "cannot get Secrets Manager secret %s" % SECRET_ID),
            ({SECRET_ID: json.dumps({"username": "granite"})}, "without a \"password\" string"),
            ({SECRET_ID: json.dumps({"password": "two\nlines"})}, "holds a line break"),
            ({SECRET_ID: ""}, "is empty"),
        ]
        for secrets, why in cases:
            with self.subTest(why=why):
                self.old_file()
                s = fake_aws.Scenario([], secrets=secrets)
                self.assertEqual(self.run_script(s, "--secret-id", SECRET_ID), 1, self.output)
                self.assertEqual(self.content(), "*:*:*:*:the-old-one\n")
                self.assertIn(why, self.output)
                self.assertIn("left as it was", self.output)
                self.assertEqual([f for f in os.listdir(self.home.name) if f.startswith("pgpass.")], [])

    def test_usage_errors(self):
        s = fake_aws.Scenario([])
        self.assertEqual(self.run_script(s, endpoint=False), 2)
        self.assertIn("--secret-id, or all of --iam-host", self.output)
        self.assertEqual(self.run_script(s, "--secret-id", "x", "--iam-host", "db", endpoint=False), 2)
        self.assertEqual(self.run_script(s, "--iam-host", "db", "--iam-port", "x", "--iam-user", "u",
                                         endpoint=False), 2)
        self.assertFalse(os.path.exists(self.file))

    def test_an_iam_token_is_computed_locally_and_escaped(self):
        s = fake_aws.Scenario([])
        host = "forum.cluster-abc.eu-west-1.rds.amazonaws.com"
        self.assertEqual(self.run_script(s, "--iam-host", host, "--iam-port", "5432", "--iam-user", "granite",
                                         endpoint=False), 0, self.output)
        line = self.content()
        # host:port/?Action=connect&DBUser=granite&X-Amz-...: its colon escaped.
        self.assertTrue(line.startswith("*:*:*:*:" + host + "\\:5432/?"), line)
        self.assertIn("Action=connect", line)
        self.assertIn("DBUser=granite", line)
        self.assertIn("X-Amz-Signature=", line)
        self.assertEqual(s.calls, [])  # no call: the CLI signs it itself
        self.assertNotIn("X-Amz-Signature", self.output)


@unittest.skipUnless(os.getuid() == 0 and shutil.which("runuser"), "needs root to run a cluster as postgres")
class LibpqReadsTheFile(unittest.TestCase):
    """The file the script writes is one libpq signs in with, and a rotated
    one is read at the next connection."""

    def setUp(self):
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql") if os.path.exists(
            "/usr/lib/postgresql/%s/bin/initdb" % d))
        self.bin = "/usr/lib/postgresql/%s/bin" % bins[-1]
        self.dir = tempfile.mkdtemp(prefix="granite-db-password-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        shutil.chown(self.dir, "postgres", "postgres")
        self.as_postgres(self.bin + "/initdb", "-D", self.dir + "/data", "-U", "granite", "--auth-local=trust",
                         "--auth-host=scram-sha-256")
        self.port = free_port()
        self.as_postgres(self.bin + "/pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-w", "-o",
                         "-c listen_addresses=127.0.0.1 -p %d -k %s" % (self.port, self.dir), "start")
        self.addCleanup(self.as_postgres, self.bin + "/pg_ctl", "-D", self.dir + "/data", "-m", "immediate",
                        "-w", "stop")
        self.home = tempfile.TemporaryDirectory()
        self.addCleanup(self.home.cleanup)
        self.file = os.path.join(self.home.name, "pgpass")

    def as_postgres(self, *cmd):
        subprocess.run(["runuser", "-u", "postgres", "--"] + list(cmd), check=True, capture_output=True, timeout=60)

    def set_password(self, password):
        quoted = password.replace("'", "''")
        self.as_postgres("psql", "-h", self.dir, "-p", str(self.port), "-U", "granite", "-d", "postgres", "-qc",
                         "ALTER ROLE granite PASSWORD '%s'" % quoted)

    def refresh(self, password):
        s = fake_aws.Scenario([], secrets={SECRET_ID: json.dumps({"password": password})})
        url = fake_aws.serve_for(self, s)
        p = subprocess.run([SCRIPT, "--file", self.file, "--region", "eu-west-1", "--owner", "root",
                            "--secret-id", SECRET_ID, "--endpoint-url", url],
                           env=fake_aws.cli_env(self.home.name), capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

    def sign_in(self):
        url = "host=127.0.0.1 port=%d user=granite dbname=postgres passfile=%s" % (self.port, self.file)
        return subprocess.run(["psql", url, "-Atc", "SELECT current_user"], capture_output=True, text=True,
                              timeout=30, env={"PATH": os.environ["PATH"], "PGCONNECT_TIMEOUT": "5"})

    def test_psql_signs_in_with_the_file_and_with_the_rotated_one(self):
        self.set_password(PASSWORD)
        self.refresh(PASSWORD)
        first = self.sign_in()
        self.assertEqual((first.returncode, first.stdout.strip()), (0, "granite"), first.stderr)
        self.set_password("the-next-one")
        stale = self.sign_in()
        self.assertNotEqual(stale.returncode, 0)
        self.assertIn("password authentication failed", stale.stderr)
        self.refresh("the-next-one")
        second = self.sign_in()
        self.assertEqual((second.returncode, second.stdout.strip()), (0, "granite"), second.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
