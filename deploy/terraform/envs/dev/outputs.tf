output "api_url" {
  description = "Base URL of the REST/JSON API (API Gateway, $default stage)."
  value       = module.api_gateway.api_url
}

output "cloudmap_namespace" {
  description = "Cloud Map namespace the services register in (MESH_CLOUDMAP_NAMESPACE)."
  value       = module.discovery.name
}

output "cloudmap_namespace_id" {
  description = "ID of that namespace."
  value       = module.discovery.id
}

output "ecs_cluster_name" {
  description = "ECS cluster running every service."
  value       = aws_ecs_cluster.this.name
}

output "ecr_repository_url" {
  description = "Where scripts/push-image pushes the image."
  value       = module.ecr.repository_url
}

output "services" {
  description = "Per service: ECS service name and log group."
  value = {
    for name, svc in module.service : name => {
      ecs_service = svc.service_name
      log_group   = svc.log_group_name
    }
  }
}
