# Who may call whom. Every rule here comes from services.yaml: a service's
# security group admits exactly the services that list it in depends_on, on
# its own port; the REST gateway also admits the API Gateway VPC link and the
# streaming NLB; the database admits exactly the services with store: sql, and
# each cache exactly the one service with store: redis that owns it.

resource "aws_vpc_security_group_ingress_rule" "mesh" {
  for_each = local.calls

  security_group_id            = module.service[each.value.callee].security_group_id
  referenced_security_group_id = module.service[each.value.caller].security_group_id
  description                  = "${each.value.caller} calls ${each.value.callee}"
  ip_protocol                  = "tcp"
  from_port                    = local.services[each.value.callee].port
  to_port                      = local.services[each.value.callee].port
}

resource "aws_vpc_security_group_egress_rule" "mesh" {
  for_each = local.calls

  security_group_id            = module.service[each.value.caller].security_group_id
  referenced_security_group_id = module.service[each.value.callee].security_group_id
  description                  = "${each.value.caller} calls ${each.value.callee}"
  ip_protocol                  = "tcp"
  from_port                    = local.services[each.value.callee].port
  to_port                      = local.services[each.value.callee].port
}

resource "aws_vpc_security_group_ingress_rule" "entry_from_api_gateway" {
  security_group_id            = module.service[local.entry].security_group_id
  referenced_security_group_id = module.api_gateway.vpc_link_security_group_id
  description                  = "API Gateway VPC link to the REST gateway"
  ip_protocol                  = "tcp"
  from_port                    = local.services[local.entry].port
  to_port                      = local.services[local.entry].port
}

resource "aws_vpc_security_group_ingress_rule" "entry_from_stream_nlb" {
  count                        = var.streaming_api ? 1 : 0
  security_group_id            = module.service[local.entry].security_group_id
  referenced_security_group_id = module.stream_api[0].security_group_id
  description                  = "Streaming NLB (REST API VPC link) to the REST gateway"
  ip_protocol                  = "tcp"
  from_port                    = local.services[local.entry].port
  to_port                      = local.services[local.entry].port
}

resource "aws_vpc_security_group_ingress_rule" "database" {
  for_each = toset(local.stores)

  security_group_id            = module.data.security_group_id
  referenced_security_group_id = module.service[each.key].security_group_id
  description                  = "${each.key} to its database"
  ip_protocol                  = "tcp"
  from_port                    = module.data.port
  to_port                      = module.data.port
}

resource "aws_vpc_security_group_egress_rule" "database" {
  for_each = toset(local.stores)

  security_group_id            = module.service[each.key].security_group_id
  referenced_security_group_id = module.data.security_group_id
  description                  = "${each.key} to its database"
  ip_protocol                  = "tcp"
  from_port                    = module.data.port
  to_port                      = module.data.port
}

resource "aws_vpc_security_group_ingress_rule" "cache" {
  for_each = toset(local.caches)

  security_group_id            = module.cache.security_group_ids[each.key]
  referenced_security_group_id = module.service[each.key].security_group_id
  description                  = "${each.key} to its cache"
  ip_protocol                  = "tcp"
  from_port                    = module.cache.port
  to_port                      = module.cache.port
}

resource "aws_vpc_security_group_egress_rule" "cache" {
  for_each = toset(local.caches)

  security_group_id            = module.service[each.key].security_group_id
  referenced_security_group_id = module.cache.security_group_ids[each.key]
  description                  = "${each.key} to its cache"
  ip_protocol                  = "tcp"
  from_port                    = module.cache.port
  to_port                      = module.cache.port
}
