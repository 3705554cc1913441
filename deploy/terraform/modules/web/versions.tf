terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.88, < 6.0"
      # A web ACL for CloudFront (scope CLOUDFRONT) and its log group must be
      # made in us-east-1, whatever Region the rest of the environment is in.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
