# The granite AMI: Debian 12 with the granite package installed and tuned.
# Build:    packer build -var version=0.1.0 -var region=eu-west-1 packer/granite.pkr.hcl
# The same provisioners run against any Debian 12 machine reachable over SSH
# through the null source (packer build -only=null.local ...): the bake test
# does that with a booted local root.

variable "version" {
  type        = string
  description = "The granite version to install: scripts/package built build/package/granite_<version>_amd64.deb."
}

variable "deb" {
  type        = string
  default     = ""
  description = "The package to install, when not build/package/granite_<version>_amd64.deb."
}

variable "region" {
  type        = string
  default     = "eu-west-1"
  description = "The AWS region to bake in (the AMI lives there)."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "The instance type of the temporary build instance."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "The subnet of the build instance; empty: the region's default VPC."
}

variable "associate_public_ip_address" {
  type        = bool
  default     = true
  description = "Whether the build instance gets a public address (false for a private subnet reached through a VPN or bastion)."
}

variable "manifest" {
  type        = string
  default     = ""
  description = "Where the manifest with the AMI id goes; empty: packer/manifest.json."
}

variable "extra_packages" {
  type        = list(string)
  default     = []
  description = "Debian packages to add to the image: [\"awscli\"] for settings from SSM Parameter Store (packer/user-data-ssm.yaml)."
}
variable "ssh_host" {
  type        = string
  default     = "127.0.0.1"
  description = "null source: the machine to provision."
}

variable "ssh_port" {
  type        = number
  default     = 22
  description = "null source: its SSH port."
}

variable "ssh_username" {
  type        = string
  default     = "root"
  description = "null source: the user to log in as (root, or one with sudo)."
}

variable "ssh_private_key_file" {
  type        = string
  default     = ""
  description = "null source: the private key that logs in; empty: the SSH agent's keys."
}

locals {
  deb       = var.deb != "" ? var.deb : "${path.root}/../build/package/granite_${var.version}_amd64.deb"
  manifest  = var.manifest != "" ? var.manifest : "${path.root}/manifest.json"
  timestamp = formatdate("YYYYMMDD-hhmmss", timestamp())
  tags = {
    Name        = "granite-${var.version}"
    Application = "granite"
    Version     = var.version
    BaseAMI     = "{{ .SourceAMI }}"
    BaseAMIName = "{{ .SourceAMIName }}"
    BuiltAt     = local.timestamp
  }
}

source "amazon-ebs" "debian12" {
  region                      = var.region
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  associate_public_ip_address = var.associate_public_ip_address
  ami_name                    = "granite-${var.version}-${local.timestamp}"
  ami_description             = "granite ${var.version} on Debian 12"

  # The official Debian 12 images, published by Debian's own AWS account.
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  ssh_username = "admin"
  ssh_timeout  = "10m"

  tags          = local.tags
  snapshot_tags = local.tags
  run_tags = {
    Name        = "packer-granite-${var.version}"
    Application = "granite"
  }
}

source "null" "local" {
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
  ssh_agent_auth       = var.ssh_private_key_file == ""
  ssh_timeout          = "2m"
}

build {
  sources = ["source.amazon-ebs.debian12", "source.null.local"]

  provisioner "file" {
    source      = local.deb
    destination = "/tmp/granite.deb"
  }

  provisioner "shell" {
    script = "${path.root}/provision.sh"
    # provision.sh takes the package path and any extra packages; it runs
    # itself with sudo when the user is not root.
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} {{ .Path }} /tmp/granite.deb ${join(" ", var.extra_packages)}"
  }

  post-processor "manifest" {
    output     = local.manifest
    strip_path = true
    custom_data = {
      version = var.version
    }
  }
}
