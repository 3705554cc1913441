variable "namespace" {
  type        = string
  description = "Name of the private DNS namespace (services.yaml's namespace, e.g. shop.local)."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.namespace))
    error_message = "namespace must be a DNS name with at least two labels, such as shop.local."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the namespace's private hosted zone is attached to."

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
