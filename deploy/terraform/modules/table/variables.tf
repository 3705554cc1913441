variable "name" {
  type        = string
  description = "Table name (<environment>-<service>)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3-255 letters, digits, '_', '-' or '.' (DynamoDB's table name rules)."
  }
}

variable "hash_key" {
  type        = string
  description = "The table's partition key (a string attribute), as the service's adapter names it."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", var.hash_key))
    error_message = "hash_key must be an attribute name: letters, digits and '_', not starting with a digit."
  }
}

variable "indexes" {
  type = list(object({
    name      = string
    hash_key  = string
    range_key = string
  }))
  description = "Global secondary indexes (string keys, every attribute projected), as the service's adapter queries them."
  default     = []

  validation {
    condition = alltrue([
      for i in var.indexes : can(regex("^[A-Za-z0-9_.-]{3,255}$", i.name))
      && can(regex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", i.hash_key))
      && can(regex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", i.range_key))
    ])
    error_message = "Each index needs a name of 3-255 letters, digits, '_', '-' or '.', and attribute names for its keys."
  }
}

variable "ttl_attribute" {
  type        = string
  description = "A number attribute holding each item's expiry in epoch seconds (DynamoDB's TTL), or null."
  default     = null

  validation {
    condition     = var.ttl_attribute == null || can(regex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", var.ttl_attribute))
    error_message = "ttl_attribute must be an attribute name: letters, digits and '_', not starting with a digit."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse DeleteTable (terraform destroy fails until it is switched off)."
  default     = true
}

variable "kms_key_arn" {
  type        = string
  description = "The environment's customer-managed KMS key: encrypts the table, its indexes and its backups."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
