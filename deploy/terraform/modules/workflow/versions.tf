terraform {
  required_version = ">= 1.9" # validations that refer to another variable

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}
