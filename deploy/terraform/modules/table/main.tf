# A service's DynamoDB table (store: dynamodb): on demand, encrypted with the
# environment's key, point-in-time recovery on (35 days of restore points),
# deletion protection on. Every key attribute is a string.

locals {
  key_attributes = distinct(concat([var.hash_key], flatten([for i in var.indexes : [i.hash_key, i.range_key]])))
}

resource "aws_dynamodb_table" "this" {
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = var.hash_key
  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = local.key_attributes
    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = var.indexes
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = "ALL"
    }
  }

  # Items that carry their own expiry (mesh.kv's "expires") are removed by DynamoDB
  # itself once past it; readers already treat them as gone.
  dynamic "ttl" {
    for_each = var.ttl_attribute == null ? [] : [var.ttl_attribute]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = merge(var.tags, { Name = var.name })
}
