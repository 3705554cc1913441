terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # As the other modules (deletion_protection_enabled needs 5.17+).
      version = ">= 5.88, < 6.0"
    }
  }
}
