# store: dynamodb gets a table of its own (modules/table): on demand, point-in-time
# recovery, encrypted with the environment's key, deletion protection. The
# network gets a DynamoDB gateway endpoint (free; traffic stays off the NAT,
# and its policy admits only these tables), and the owning task's role may use
# exactly its table and that table's indexes. The task finds the table through
# <SERVICE>_DYNAMODB_TABLE.
#
# The catalog has an adapter of its own (services/catalog/dynamodb.py) with its
# own key schema; it runs on SQL by default (services.yaml: store: sql). Every
# other service with store: dynamodb (a scripts/new-service one, say) uses the
# key-value port (mesh/kv/dynamodb.py): key "pk", expiry in "expires".

locals {
  # The key schema each service's adapter expects (names as in its code).
  table_schemas = {
    catalog = {
      hash_key      = "sku"
      indexes       = [{ name = "by_sku", hash_key = "listing", range_key = "sku" }]
      ttl_attribute = null
    }
  }
  # mesh.kv's DynamoDB adapter, for any store: dynamodb service not named above.
  kv_table = {
    hash_key      = "pk"
    indexes       = []
    ttl_attribute = "expires"
  }

  tables = sort([for name, svc in local.services : name if svc.store == "dynamodb"])

  # Plain environment of each service with a table (mesh/config.py reads <SERVICE>_DYNAMODB_TABLE).
  table_env = {
    for name in local.tables : name => { "${upper(name)}_DYNAMODB_TABLE" = module.table[name].name }
  }
}

module "table" {
  source   = "../../modules/table"
  for_each = toset(local.tables)

  name = "${var.name}-${each.key}"
  hash_key            = lookup(local.table_schemas, each.key, local.kv_table).hash_key
  indexes             = lookup(local.table_schemas, each.key, local.kv_table).indexes
  ttl_attribute       = lookup(local.table_schemas, each.key, local.kv_table).ttl_attribute
  deletion_protection = var.table_deletion_protection
  kms_key_arn         = aws_kms_key.this.arn
}
