"""scripts/rollout against a fake of the AWS Query APIs on loopback: the exact
calls and parameters, a successful refresh, a failed one, throttling retried,
a timeout, --dry-run, and refusals of bad input."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_aws  # noqa: E402

ROLLOUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "rollout")
AMI = "ami-0a1b2c3d4e5f67890"
TEMPLATE = "lt-0123456789abcdef0"
DONE = [("Pending", 0, 3, ""), ("InProgress", 33, 2, ""),
        ("InProgress", 50, 1, "Waiting for checkpoint delay"), ("InProgress", 66, 1, ""),
        ("Successful", 100, 0, "")]


class RolloutCase(unittest.TestCase):
    """Runs scripts/rollout against a fake of its own, as an operator would."""

    def setUp(self):
        self.home = tempfile.TemporaryDirectory()
        self.manifest = os.path.join(self.home.name, "manifest.json")
        with open(self.manifest, "w") as f:
            json.dump({"builds": [
                {"name": "debian12", "builder_type": "amazon-ebs", "packer_run_uuid": "old",
                 "artifact_id": "eu-west-1:ami-00000000000000000"},
                {"name": "debian12", "builder_type": "amazon-ebs", "packer_run_uuid": "last",
                 "artifact_id": "eu-central-1:ami-0ffffffffffffffff,eu-west-1:" + AMI},
                {"name": "local", "builder_type": "null", "packer_run_uuid": "last", "artifact_id": "Null"}],
                "last_run_uuid": "last"}, f)

    def tearDown(self):
        self.home.cleanup()

    def run_rollout(self, scenario, *args, endpoint=True, path_first=None):
        url = fake_aws.serve_for(self, scenario)
        cmd = [ROLLOUT] + list(args) + (["--endpoint-url", url] if endpoint else [])
        p = subprocess.run(cmd, env=fake_aws.cli_env(self.home.name, path_first), capture_output=True, text=True,
                           timeout=120)
        self.output = p.stdout + p.stderr
        print("\n$ rollout " + " ".join(args) + "\n" + self.output, file=sys.stderr)
        return p.returncode

    def actions(self, scenario):
        return [a for a, _ in scenario.calls]

    def params(self, scenario, action):
        found = [p for a, p in scenario.calls if a == action]
        self.assertTrue(found, "no %s call in %s" % (action, self.actions(scenario)))
        return found[-1]


class Rollout(RolloutCase):
    def test_a_successful_refresh_from_the_manifest_makes_exactly_these_calls(self):
        s = fake_aws.Scenario(DONE)
        rc = self.run_rollout(s, "--manifest", self.manifest, "--asg", "forum-api", "--region", "eu-west-1",
                              "--poll", "0.05")
        self.assertEqual(rc, 0, self.output)
        self.assertEqual(self.actions(s), [
            "DescribeImages", "DescribeAutoScalingGroups", "DescribeTargetGroups", "CreateLaunchTemplateVersion",
            "StartInstanceRefresh"] + ["DescribeInstanceRefreshes"] * 5)
        self.assertEqual(self.params(s, "DescribeImages")["ImageId.1"], AMI)
        self.assertEqual(self.params(s, "DescribeAutoScalingGroups")["AutoScalingGroupNames.member.1"], "forum-api")
        create = self.params(s, "CreateLaunchTemplateVersion")
        self.assertEqual(create["LaunchTemplateId"], TEMPLATE)
        self.assertEqual(create["SourceVersion"], "3")
        self.assertEqual(create["LaunchTemplateData.ImageId"], AMI)
        self.assertEqual(create["VersionDescription"], "granite " + AMI)
        start = self.params(s, "StartInstanceRefresh")
        self.assertEqual(start, {
            "AutoScalingGroupName": "forum-api",
            "Strategy": "Rolling",
            "DesiredConfiguration.LaunchTemplate.LaunchTemplateId": TEMPLATE,
            "DesiredConfiguration.LaunchTemplate.Version": "8",  # explicit, never $Latest
            "Preferences.MinHealthyPercentage": "90",
            "Preferences.InstanceWarmup": "75",  # 60 s boot + 5 s x 3 healthy checks
            "Preferences.SkipMatching": "true",
            "Preferences.CheckpointPercentages.member.1": "50",
            "Preferences.CheckpointPercentages.member.2": "100",
            "Preferences.CheckpointDelay": "300",
        })
        poll = self.params(s, "DescribeInstanceRefreshes")
        self.assertEqual(poll["InstanceRefreshIds.member.1"], "0f6d2d5e-6a43-4f4e-9b7e-4d1f0c3a2b1c")
        for line in ("rolling forum-api in eu-west-1 onto " + AMI, "InProgress 33 % done, 2 instances to update",
                     "Waiting for checkpoint delay", "Successful 100 % done", "rollout of " + AMI + " to forum-api done"):
            self.assertIn(line, self.output)
        self.assertNotIn("warning", self.output)

    def test_a_failed_refresh_exits_1_with_its_reason(self):
        s = fake_aws.Scenario([("InProgress", 33, 2, ""),
                               ("Failed", 33, 2, "Instance i-0abc failed the ELB health check")], health_interval=10)
        rc = self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1", "--poll", "0.05")
        self.assertEqual(rc, 1, self.output)
        # 10 s x 2 unhealthy checks outlast granite's 15 s drain: said before anything changes.
        self.assertIn("warning: drain.delay_s (15 s) must exceed interval x unhealthy threshold (20 s)", self.output)
        self.assertIn("ended Failed: Instance i-0abc failed the ELB health check", self.output)

    def test_a_rolled_back_refresh_is_a_failure(self):
        s = fake_aws.Scenario([("RollbackSuccessful", 100, 0, "rolled back after a failed health check")])
        rc = self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1", "--poll", "0.05")
        self.assertEqual(rc, 1, self.output)
        self.assertIn("ended RollbackSuccessful", self.output)

    def test_throttled_calls_are_retried(self):
        s = fake_aws.Scenario(DONE, throttle={"DescribeAutoScalingGroups": 1, "CreateLaunchTemplateVersion": 1,
                                              "StartInstanceRefresh": 2})
        rc = self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1", "--poll", "0.05")
        self.assertEqual(rc, 0, self.output)
        a = self.actions(s)
        self.assertEqual(a.count("DescribeAutoScalingGroups"), 2)
        self.assertEqual(a.count("CreateLaunchTemplateVersion"), 2)
        self.assertEqual(a.count("StartInstanceRefresh"), 3)

    def test_waiting_too_long_exits_3_and_says_how_to_follow_the_refresh(self):
        s = fake_aws.Scenario([("InProgress", 33, 2, "")])
        rc = self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1", "--poll", "0.2",
                              "--timeout", "1")
        self.assertEqual(rc, 3, self.output)
        self.assertIn("timed out after 1 s with the refresh InProgress", self.output)
        self.assertIn("cancel-instance-refresh", self.output)

    def test_dry_run_reads_but_changes_nothing(self):
        s = fake_aws.Scenario(DONE)
        rc = self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1", "--dry-run",
                              "--checkpoints", "none", "--min-healthy", "100", "--warmup", "120")
        self.assertEqual(rc, 0, self.output)
        self.assertEqual(self.actions(s), ["DescribeImages", "DescribeAutoScalingGroups", "DescribeTargetGroups"])
        self.assertIn("dry run: aws --region eu-west-1", self.output)
        self.assertIn("ec2 create-launch-template-version --launch-template-id " + TEMPLATE, self.output)
        self.assertIn("autoscaling start-instance-refresh --auto-scaling-group-name forum-api", self.output)
        self.assertIn('\\"MinHealthyPercentage\\":100\\,\\"InstanceWarmup\\":120', self.output)
        self.assertNotIn("Checkpoint", self.output)

    def test_a_group_on_latest_is_based_on_the_version_it_resolves_to(self):
        s = fake_aws.Scenario(DONE, asg_template_version="$Latest")
        rc = self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1", "--poll", "0.05")
        self.assertEqual(rc, 0, self.output)
        self.assertEqual(self.params(s, "DescribeLaunchTemplateVersions")["LaunchTemplateVersion.1"], "$Latest")
        self.assertEqual(self.params(s, "CreateLaunchTemplateVersion")["SourceVersion"], "7")

    def test_an_ami_that_is_not_available_stops_before_any_change(self):
        s = fake_aws.Scenario(DONE, ami_state="pending")
        rc = self.run_rollout(s, "--ami", AMI, "--asg", "forum-api", "--region", "eu-west-1")
        self.assertEqual(rc, 2, self.output)
        self.assertIn("is not available (state: pending)", self.output)
        self.assertEqual(self.actions(s), ["DescribeImages"])

    def test_bad_input_is_refused_before_any_call(self):
        s = fake_aws.Scenario(DONE)
        bad = os.path.join(self.home.name, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        cases = [
            ((["--ami", AMI]), "--asg is required"),
            ((["--asg", "g"]), "give --ami ID or --manifest FILE"),
            ((["--asg", "g", "--ami", AMI, "--manifest", self.manifest]), "not both"),
            ((["--asg", "g", "--ami", "ami-xyz", "--region", "r"]), "is not an AMI id"),
            ((["--asg", "g", "--manifest", bad]), "is not a Packer manifest"),
            ((["--asg", "g", "--manifest", self.manifest, "--region", "us-east-2"]), "has no AMI in us-east-2"),
            ((["--asg", "g", "--ami", AMI, "--region", "r", "--checkpoints", "50"]), "must end with 100"),
            ((["--asg", "g", "--ami", AMI, "--region", "r", "--min-healthy", "150"]), "is a percentage"),
            ((["--asg", "g", "--ami", AMI, "--region", "r", "--warmup", "soon"]), "must be a whole number"),
            ((["--asg", "g", "--ami", AMI, "--region", "r", "--colour", "blue"]), "unknown option --colour"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                self.assertEqual(self.run_rollout(s, *args), 2, self.output)
                self.assertIn(message, self.output)
        self.assertEqual(s.calls, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
