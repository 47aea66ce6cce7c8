"""A small fake of the AWS Query APIs that scripts/rollout calls (EC2,
Auto Scaling, Elastic Load Balancing v2), and of SSM's GetParameter (a JSON
API) that packer/settings-from-ssm calls, served on loopback for the AWS CLI
given --endpoint-url. It records every call with its parameters, answers from
a scenario, and can throttle a call a number of times first. A cancel or a
rollback of the refresh moves it to the states they lead to."""
import http.server
import json
import os
import threading
import urllib.parse
import uuid

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
ASG_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
ELB_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
# EC2 speaks its own dialect: its errors and its throttling code differ.
EC2_ACTIONS = {"DescribeImages", "DescribeLaunchTemplateVersions", "CreateLaunchTemplateVersion", "DescribeInstances"}
CANCELLED = [("Cancelling", 50, 1, ""), ("Cancelled", 50, 1, "Cancelled by the user")]
ROLLED_BACK = [("RollbackInProgress", 50, 1, "Rollback started by the user"),
               ("RollbackSuccessful", 100, 0, "Rollback completed")]


class Scenario:
    def __init__(self, refresh_states, throttle=None, ami_state="available", asg_template_version="3",
                 health_interval=5, instances=(), ami_name="granite-0.1.0-20261126", refuse_rollback=False,
                 parameters=None, secrets=None):
        # What DescribeInstanceRefreshes answers, call after call (the last
        # one repeats): (Status, PercentageComplete, InstancesToUpdate, StatusReason).
        self.refresh_states = list(refresh_states)
        self.throttle = dict(throttle or {})  # Action -> how many times to throttle it
        self.ami_state = ami_state
        self.asg_template_version = asg_template_version
        self.health_interval = health_interval  # the target group's HealthCheckIntervalSeconds
        # The group's instances: (InstanceId, PrivateIpAddress, launch template Version, LifecycleState).
        self.instances = list(instances)
        self.ami_name = ami_name
        self.refuse_rollback = refuse_rollback  # as AWS does for a group on $Latest
        self.parameters = dict(parameters or {})  # SSM: Name -> the SecureString's value
        self.secrets = dict(secrets or {})  # Secrets Manager: SecretId -> SecretString
        self.calls = []  # (Action, {param: value}) in order, throttled ones too
        self.lock = threading.Lock()


def _query(ns, action, body):
    return ('<{a}Response xmlns="{ns}"><{a}Result>{b}</{a}Result>'
            '<ResponseMetadata><RequestId>{r}</RequestId></ResponseMetadata></{a}Response>').format(
                a=action, ns=ns, b=body, r=uuid.uuid4())


def _ec2(action, body):
    return '<{a}Response xmlns="{ns}"><requestId>{r}</requestId>{b}</{a}Response>'.format(
        a=action, ns=EC2_NS, b=body, r=uuid.uuid4())


def _answer(s, action, p):
    if action == "DescribeImages":
        return 200, _ec2(action, "<imagesSet><item><imageId>{}</imageId><imageState>{}</imageState>"
                                 "<name>{}</name></item></imagesSet>".format(
                                     p.get("ImageId.1", ""), s.ami_state, s.ami_name))
    if action == "DescribeAutoScalingGroups":
        return 200, _query(ASG_NS, action, (
            "<AutoScalingGroups><member><AutoScalingGroupName>{}</AutoScalingGroupName>"
            "<LaunchTemplate><LaunchTemplateId>lt-0123456789abcdef0</LaunchTemplateId>"
            "<LaunchTemplateName>granite</LaunchTemplateName><Version>{}</Version></LaunchTemplate>"
            "<MinSize>3</MinSize><MaxSize>6</MaxSize><DesiredCapacity>3</DesiredCapacity>"
            "<DefaultCooldown>300</DefaultCooldown><AvailabilityZones><member>eu-west-1a</member></AvailabilityZones>"
            "<HealthCheckType>ELB</HealthCheckType><HealthCheckGracePeriod>90</HealthCheckGracePeriod>"
            "<TargetGroupARNs><member>arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/granite/0123456789abcdef</member></TargetGroupARNs>"
            "<Instances>{}</Instances>"
            "<CreatedTime>2026-11-01T00:00:00Z</CreatedTime></member></AutoScalingGroups>").format(
                p.get("AutoScalingGroupNames.member.1", ""), s.asg_template_version, "".join(
                    "<member><InstanceId>{}</InstanceId><InstanceType>t3.small</InstanceType>"
                    "<AvailabilityZone>eu-west-1a</AvailabilityZone><LifecycleState>{}</LifecycleState>"
                    "<HealthStatus>Healthy</HealthStatus><LaunchTemplate><LaunchTemplateId>lt-0123456789abcdef0"
                    "</LaunchTemplateId><LaunchTemplateName>granite</LaunchTemplateName><Version>{}</Version>"
                    "</LaunchTemplate><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>".format(
                        i, state, version) for i, _, version, state in s.instances)))
    if action == "DescribeInstances":
        wanted = [v for k, v in sorted(p.items()) if k.startswith("InstanceId.")]
        return 200, _ec2(action, "<reservationSet><item><reservationId>r-0123456789abcdef0</reservationId>"
                                 "<ownerId>123456789012</ownerId><instancesSet>{}</instancesSet></item>"
                                 "</reservationSet>".format("".join(
                                     "<item><instanceId>{}</instanceId><privateIpAddress>{}</privateIpAddress></item>".format(
                                         i, ip) for i, ip, _, _ in s.instances if i in wanted)))
    if action in ("CancelInstanceRefresh", "RollbackInstanceRefresh"):
        if action == "RollbackInstanceRefresh" and s.refuse_rollback:
            return 400, _error(action, "ValidationError", "Rollback is not supported for this instance refresh")
        with s.lock:
            s.refresh_states = list(ROLLED_BACK if action == "RollbackInstanceRefresh" else CANCELLED)
        return 200, _query(ASG_NS, action, "<InstanceRefreshId>0f6d2d5e-6a43-4f4e-9b7e-4d1f0c3a2b1c</InstanceRefreshId>")
    if action == "DescribeLaunchTemplateVersions":
        return 200, _ec2(action, "<launchTemplateVersionSet><item><launchTemplateId>lt-0123456789abcdef0</launchTemplateId>"
                                 "<versionNumber>7</versionNumber></item></launchTemplateVersionSet>")
    if action == "DescribeTargetGroups":
        return 200, _query(ELB_NS, action, (
            "<TargetGroups><member><TargetGroupArn>{}</TargetGroupArn><TargetGroupName>granite</TargetGroupName>"
            "<HealthCheckPath>/health</HealthCheckPath><HealthCheckIntervalSeconds>{}</HealthCheckIntervalSeconds>"
            "<HealthyThresholdCount>3</HealthyThresholdCount><UnhealthyThresholdCount>2</UnhealthyThresholdCount>"
            "</member></TargetGroups>").format(p.get("TargetGroupArns.member.1", ""), s.health_interval))
    if action == "CreateLaunchTemplateVersion":
        return 200, _ec2(action, "<launchTemplateVersion><launchTemplateId>{}</launchTemplateId>"
                                 "<versionNumber>8</versionNumber></launchTemplateVersion>".format(
                                     p.get("LaunchTemplateId", "")))
    if action == "StartInstanceRefresh":
        return 200, _query(ASG_NS, action, "<InstanceRefreshId>0f6d2d5e-6a43-4f4e-9b7e-4d1f0c3a2b1c</InstanceRefreshId>")
    if action == "DescribeInstanceRefreshes":
        with s.lock:
            state = s.refresh_states[0] if len(s.refresh_states) == 1 else s.refresh_states.pop(0)
        status, percent, to_update, reason = state
        return 200, _query(ASG_NS, action, (
            "<InstanceRefreshes><member><InstanceRefreshId>{}</InstanceRefreshId><AutoScalingGroupName>{}</AutoScalingGroupName>"
            "<Status>{}</Status><PercentageComplete>{}</PercentageComplete><InstancesToUpdate>{}</InstancesToUpdate>"
            "{}</member></InstanceRefreshes>").format(
                p.get("InstanceRefreshIds.member.1", ""), p.get("AutoScalingGroupName", ""), status, percent,
                to_update, "<StatusReason>{}</StatusReason>".format(reason) if reason else ""))
    return 400, _error(action, "InvalidAction", "the fake does not know " + action)


def _error(action, code, message):
    if action in EC2_ACTIONS:
        return ("<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors>"
                "<RequestID>{}</RequestID></Response>").format(code, message, uuid.uuid4())
    return ("<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error>"
            "<RequestId>{}</RequestId></ErrorResponse>").format(code, message, uuid.uuid4())


def _ssm(s, action, p):
    """SSM speaks JSON: X-Amz-Target names the action; errors carry __type."""
    if action != "GetParameter":
        return 400, json.dumps({"__type": "InvalidAction", "message": "the fake does not know " + action})
    value = s.parameters.get(p.get("Name"))
    if value is None:
        return 400, json.dumps({"__type": "ParameterNotFound"})
    return 200, json.dumps({"Parameter": {
        "Name": p["Name"], "Type": "SecureString", "Version": 1, "DataType": "text",
        "Value": value if p.get("WithDecryption") else "AQICAHg-encrypted-blob",
        "ARN": "arn:aws:ssm:eu-west-1:123456789012:parameter" + p["Name"]}})


def _secretsmanager(s, action, p):
    """Secrets Manager speaks JSON too."""
    if action != "GetSecretValue":
        return 400, json.dumps({"__type": "InvalidAction", "message": "the fake does not know " + action})
    value = s.secrets.get(p.get("SecretId"))
    if value is None:
        return 400, json.dumps({"__type": "ResourceNotFoundException",
                                "Message": "Secrets Manager can't find the specified secret."})
    return 200, json.dumps({"ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + p["SecretId"],
                            "Name": p["SecretId"], "SecretString": value, "VersionId": str(uuid.uuid4()),
                            "VersionStages": ["AWSCURRENT"], "CreatedDate": 1764806400.0})


def serve(scenario):
    """Starts the fake on a free loopback port; returns (server, url)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            target = self.headers.get("X-Amz-Target", "")
            if target.startswith("AmazonSSM."):
                return self.json_call(_ssm, target.split(".", 1)[1], json.loads(body or "{}"))
            if target.startswith("secretsmanager."):
                return self.json_call(_secretsmanager, target.split(".", 1)[1], json.loads(body or "{}"))
            params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            action = params.pop("Action", "")
            params.pop("Version", None)
            if self.recorded_and_throttled(action, params):
                if action in EC2_ACTIONS:
                    status, body = 503, _error(action, "RequestLimitExceeded", "Rate exceeded")
                else:
                    status, body = 400, _error(action, "Throttling", "Rate exceeded")
            else:
                status, body = _answer(scenario, action, params)
            self.answer(status, body, "text/xml")

        def json_call(self, service, action, params):
            if self.recorded_and_throttled(action, params):
                status, body = 400, json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            else:
                status, body = service(scenario, action, params)
            self.answer(status, body, "application/x-amz-json-1.1")

        def recorded_and_throttled(self, action, params):
            """Records the call; true when the scenario throttles it this time."""
            with scenario.lock:
                scenario.calls.append((action, params))
                throttled = scenario.throttle.get(action, 0) > 0
                if throttled:
                    scenario.throttle[action] -= 1
            return throttled

        def answer(self, status, body, content_type):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]


def serve_for(test, scenario):
    """serve(), stopped when the unittest `test` ends; returns the URL."""
    server, url = serve(scenario)
    test.addCleanup(server.server_close)
    test.addCleanup(server.shutdown)
    return url


def cli_env(home, path_first=None):
    """The environment an AWS CLI run against the fake gets: Debian's CLI
    (scripts/test installs it) before any other, dummy credentials, no
    configuration files and no instance metadata."""
    return {"PATH": (path_first + ":" if path_first else "") + "/usr/bin:/bin:" + os.environ.get("PATH", ""),
            "HOME": home, "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE", "AWS_SECRET_ACCESS_KEY": "fake/secret",
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true", "LANG": "C.UTF-8"}


if __name__ == "__main__":
    # For shell tests: python3 fake_aws.py NAME=FILE...: serves SSM parameters
    # (each the content of FILE) until killed; prints its URL first.
    import sys
    import time
    parameters = {}
    for arg in sys.argv[1:]:
        name, _, path = arg.partition("=")
        with open(path) as f:
            parameters[name] = f.read()
    _, url = serve(Scenario([], parameters=parameters))
    print(url, flush=True)
    while True:
        time.sleep(3600)
