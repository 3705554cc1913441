output "id" {
  description = "ID of the namespace (Cloud Map services are created in it)."
  value       = aws_service_discovery_private_dns_namespace.this.id
}

output "arn" {
  description = "ARN of the namespace."
  value       = aws_service_discovery_private_dns_namespace.this.arn
}

output "name" {
  description = "Name of the namespace (what MESH_CLOUDMAP_NAMESPACE is set to)."
  value       = aws_service_discovery_private_dns_namespace.this.name
}
