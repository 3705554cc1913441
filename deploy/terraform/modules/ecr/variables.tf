variable "name" {
  type        = string
  description = "Repository name."

  validation {
    condition     = can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", var.name))
    error_message = "name must be a valid ECR repository name (lowercase, digits, . _ - /)."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the images."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "keep_images" {
  type        = number
  description = "How many images to keep; older ones expire."
  default     = 30

  validation {
    condition     = var.keep_images >= 1 && var.keep_images <= 1000
    error_message = "keep_images must be between 1 and 1000."
  }
}

variable "force_delete" {
  type        = bool
  description = "Let terraform destroy delete the repository while it still holds images."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
