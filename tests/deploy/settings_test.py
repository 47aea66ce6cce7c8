"""packer/settings-from-ssm (the user data's bootcmd of packer/user-data-ssm.yaml)
against the fake's SSM GetParameter, with Debian's AWS CLI: the settings file
written whole and 0600 from a SecureString, decrypted; a parameter that cannot
be read, or that does not hold granite.env's lines, leaves no settings file
(an earlier boot's is removed), says why and never shows the value;
throttling and a slow start retried."""
import os
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_aws  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packer", "settings-from-ssm")
NAME = "/forum/prod/granite.env"
SECRET = "s3cr3t-p4ssw0rd"
SETTINGS = ("DATABASE_URL=postgresql://granite:%s@forum-db.internal.example:5432/forum?sslmode=require\n"
            "# the load balancer's subnets\n"
            "GRANITE_HTTP_TRUSTED_PROXIES=10.0.0.0/24,10.0.1.0/24\n"
            "\n"
            "GRANITE_DRAIN_DELAY_S=15\n" % SECRET)


class SettingsFromSsm(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.TemporaryDirectory()
        self.addCleanup(self.home.cleanup)
        self.file = os.path.join(self.home.name, "granite.env")

    def fetch(self, scenario, *args, endpoint=True):
        url = fake_aws.serve_for(self, scenario)
        env = fake_aws.cli_env(self.home.name)
        cmd = [SCRIPT, "--file", self.file, "--region", "eu-west-1"] + list(args) + (
            ["--endpoint-url", url] if endpoint else [])
        # A permissive umask, as a careless caller might have: the file must still be 0600.
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: os.umask(0o022))
        self.output = p.stdout + p.stderr
        print("\n$ settings-from-ssm " + " ".join(args) + "\n" + self.output, file=sys.stderr)
        return p.returncode

    def stale(self):
        with open(self.file, "w") as f:
            f.write("DATABASE_URL=postgresql://an-earlier-boot\n")

    def test_the_parameter_becomes_the_settings_file_0600(self):
        s = fake_aws.Scenario([], parameters={NAME: SETTINGS})
        self.stale()
        self.assertEqual(self.fetch(s, "--name", NAME), 0, self.output)
        with open(self.file) as f:
            self.assertEqual(f.read(), SETTINGS)
        mode = os.stat(self.file)
        self.assertEqual(stat.S_IMODE(mode.st_mode), 0o600)
        if os.getuid() == 0:
            self.assertEqual((mode.st_uid, mode.st_gid), (0, 0))
        self.assertEqual(s.calls, [("GetParameter", {"Name": NAME, "WithDecryption": True})])
        self.assertIn("wrote %s from SSM parameter %s (3 settings)" % (self.file, NAME), self.output)
        self.assertNotIn(SECRET, self.output)
        self.assertEqual([f for f in os.listdir(self.home.name) if f.startswith("granite.env.")], [])

    def test_a_missing_parameter_leaves_no_settings(self):
        s = fake_aws.Scenario([], parameters={})
        self.stale()
        self.assertEqual(self.fetch(s, "--name", NAME, "--attempts", "2"), 1, self.output)
        self.assertFalse(os.path.exists(self.file), "an earlier boot's settings were left for granite")
        self.assertIn("cannot read SSM parameter %s (attempt 1 of 2)" % NAME, self.output)
        self.assertIn("ParameterNotFound", self.output)
        self.assertIn("cannot read SSM parameter %s after 2 attempts" % NAME, self.output)
        self.assertIn("not written: granite stays stopped", self.output)
        self.assertEqual(len(s.calls), 2)

    def test_a_value_that_is_not_settings_lines_is_refused_without_showing_it(self):
        for value, why in (("postgresql://granite:%s@db/forum" % SECRET, "line 1 is not DATABASE_URL=..."),
                           ("GRANITE_WORKERS=2\nexport DATABASE_URL=postgresql://granite:%s@db" % SECRET,
                            "line 2 is not DATABASE_URL=..."),
                           ("GRANITE_WORKERS=2", "holds no DATABASE_URL=... line")):
            with self.subTest(value=value):
                self.stale()
                self.assertEqual(self.fetch(fake_aws.Scenario([], parameters={NAME: value}), "--name", NAME), 1,
                                 self.output)
                self.assertIn(why, self.output)
                self.assertNotIn(SECRET, self.output)
                self.assertFalse(os.path.exists(self.file))

    def test_throttling_and_an_unreachable_endpoint_are_retried(self):
        s = fake_aws.Scenario([], parameters={NAME: SETTINGS}, throttle={"GetParameter": 2})
        self.assertEqual(self.fetch(s, "--name", NAME), 0, self.output)  # the CLI's own retries
        self.assertEqual(len(s.calls), 3)
        # Nothing listening (the network not up yet): the script's retries, then it gives up.
        self.assertEqual(self.fetch(s, "--name", NAME, "--attempts", "2", "--endpoint-url", "http://127.0.0.1:9",
                                    endpoint=False), 1, self.output)
        self.assertIn("(attempt 1 of 2)", self.output)
        self.assertIn("Could not connect to the endpoint URL", self.output)
        self.assertFalse(os.path.exists(self.file))

    def test_without_the_aws_cli_it_says_what_to_add(self):
        self.stale()
        tools = os.path.join(self.home.name, "bin")  # what the script needs besides the CLI
        os.mkdir(tools)
        for tool in ("rm", "dirname"):
            os.symlink("/bin/" + tool, os.path.join(tools, tool))
        p = subprocess.run([SCRIPT, "--file", self.file, "--name", NAME], env={"PATH": tools},
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("the AWS CLI is not installed", p.stderr)
        self.assertIn("extra_packages", p.stderr)
        self.assertFalse(os.path.exists(self.file))

    def test_bad_usage_exits_2(self):
        for args, message in (([], "--name is required"), (["--name"], "--name needs a value"),
                              (["--name", NAME, "--attempts", "0"], "--attempts must be a whole number"),
                              (["--name", NAME, "--colour", "blue"], "unknown option --colour")):
            with self.subTest(args=args):
                p = subprocess.run([SCRIPT] + args, capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(message, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
