# store: dynamodb gets a table of its own (modules/table): on demand, point-in-time
# recovery, encrypted with the environment's key, deletion protection. The
# network gets a DynamoDB gateway endpoint (free; traffic stays off the NAT,
# and its policy admits only these tables), and the owning task's role may use
# exactly its table and that table's indexes. The task finds the table through
# <SERVICE>_DYNAMODB_TABLE.
#
# Only the catalog has a DynamoDB adapter with a key schema to provision
# (services/catalog/dynamodb.py). It runs on SQL by default (services.yaml:
# store: sql); set its store to dynamodb there to move it, and this file
# provisions nothing until then.

locals {
  # The key schema each service's adapter expects (names as in its code).
  table_schemas = {
    catalog = {
      hash_key = "sku"
      indexes  = [{ name = "by_sku", hash_key = "listing", range_key = "sku" }]
    }
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
  # A service with store: dynamodb but no schema here fails the plan on this index.
  hash_key            = local.table_schemas[each.key].hash_key
  indexes             = local.table_schemas[each.key].indexes
  deletion_protection = var.table_deletion_protection
  kms_key_arn         = aws_kms_key.this.arn
}
