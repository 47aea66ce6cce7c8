#!/usr/bin/env bash
# The Packer template: formatted, valid with test variables, and invalid
# when a script it names is missing or it uses an undefined variable.
# Usage: packer_test.sh BUILD_DIR (whose package/ holds the .deb)
. "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)
packer_dir=$(cd "$(dirname "$0")/../../packer" && pwd)
command -v packer >/dev/null || fail "packer is not installed (scripts/test installs it)"
deb=$(ls "$build"/package/granite_*_amd64.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "no package in $build/package (the deploy.package test makes it)"
version=$(basename "$deb" | sed 's/^granite_\(.*\)_amd64\.deb$/\1/')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Packer keeps its state under the home directory; keep it in the scratch one.
export HOME=$work PACKER_CACHE_DIR=$work/cache CHECKPOINT_DISABLE=1

pass "$(packer version)"
check "packer fmt -check" packer fmt -check -diff "$packer_dir/granite.pkr.hcl"
cat >"$work/test.pkrvars.hcl" <<VARS
version              = "$version"
deb                  = "$deb"
region               = "eu-central-1"
instance_type        = "c6i.large"
subnet_id            = "subnet-0123456789abcdef0"
manifest             = "$work/manifest.json"
ssh_private_key_file = "$work/id_test"
VARS
ssh-keygen -q -t ed25519 -N "" -f "$work/id_test" >/dev/null
check "packer validate with test variables" packer validate -var-file="$work/test.pkrvars.hcl" "$packer_dir/granite.pkr.hcl"
check "packer validate with only the version (the package path from path.root)" \
  packer validate -var version="$version" "$packer_dir/granite.pkr.hcl"
check "packer validate with extra packages (awscli, for settings from SSM)" \
  packer validate -var version="$version" -var 'extra_packages=["awscli"]' "$packer_dir/granite.pkr.hcl"
# Run from elsewhere: paths go through path.root, not the working directory.
check "packer validate from another directory" \
  bash -c "cd / && packer validate -var-file='$work/test.pkrvars.hcl' '$packer_dir/granite.pkr.hcl'"
refuse "packer validate without a version" packer validate "$packer_dir/granite.pkr.hcl"
refuse "packer validate with a package that does not exist" \
  packer validate -var version="$version" -var deb="$work/granite_0.0.0_amd64.deb" "$packer_dir/granite.pkr.hcl"

# Broken copies: the template next to no provisioning script; a misspelled
# variable; a variable the template does not declare.
mkdir -p "$work/no-script" "$work/undefined"
cp "$packer_dir/granite.pkr.hcl" "$work/no-script/"
out=$(packer validate -var-file="$work/test.pkrvars.hcl" "$work/no-script/granite.pkr.hcl" 2>&1) &&
  fail "a copy without provision.sh validated"
grep -q "provision.sh" <<<"$out" || { echo "$out" >&2; fail "the error does not name provision.sh"; }
pass "a copy without provision.sh is refused, naming it"
cp "$packer_dir/provision.sh" "$work/undefined/"
sed 's/= var\.instance_type$/= var.instance_typo/' "$packer_dir/granite.pkr.hcl" >"$work/undefined/granite.pkr.hcl"
grep -q instance_typo "$work/undefined/granite.pkr.hcl" || fail "the broken copy was not made"
out=$(packer validate -var-file="$work/test.pkrvars.hcl" "$work/undefined/granite.pkr.hcl" 2>&1) &&
  fail "a copy using an undefined variable validated"
grep -q instance_typo <<<"$out" || { echo "$out" >&2; fail "the error does not name the variable"; }
pass "a copy using an undefined variable is refused, naming it"
refuse "packer validate with a variable the template does not declare" \
  packer validate -var-file="$work/test.pkrvars.hcl" -var colour=blue "$packer_dir/granite.pkr.hcl"
check "provision.sh is valid sh" sh -n "$packer_dir/provision.sh"
