# The private DNS namespace every ECS service registers in. Callers use the
# Cloud Map API (DiscoverInstances) by the namespace name; DNS works too inside the VPC.
resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = var.namespace
  description = "Service discovery for the ${var.namespace} mesh"
  vpc         = var.vpc_id
  tags        = var.tags
}
