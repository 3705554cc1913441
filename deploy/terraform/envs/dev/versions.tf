terraform {
  # 1.10+ for S3 state locking without DynamoDB (see backend.tf.example);
  # 1.11+ for write-only arguments (the page-token key never enters the state).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      # 5.88+: secret_string_wo and the aws_secretsmanager_random_password ephemeral resource.
      version = ">= 5.88, < 6.0"
    }
  }

  # State is local (terraform.tfstate here, gitignored) until you copy
  # backend.tf.example to backend.tf: an S3 bucket with versioning and a lock
  # file is the production choice. See docs/deploy.md.
}

locals {
  default_tags = merge(var.tags, {
    Project     = var.name
    Environment = "dev"
    ManagedBy   = "terraform"
  })
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.default_tags
  }
}

# CloudFront's web ACL (scope CLOUDFRONT) and its log group exist only in
# us-east-1, whichever Region the environment is in (web.tf).
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.default_tags
  }
}
