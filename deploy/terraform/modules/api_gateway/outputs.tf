output "api_url" {
  # invoke_url ends with "/"; "$API/v1/products" would then ask for //v1/products,
  # which matches no route.
  description = "Base URL of the API without a trailing slash (the $default stage serves at the root): append /v1/..."
  value       = trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")
}

output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "vpc_link_security_group_id" {
  description = "Security group of the VPC link; the REST gateway admits it."
  value       = aws_security_group.vpc_link.id
}

output "anonymous_route_keys" {
  description = "Routes reachable without a token (empty when the API has no JWT authorizer: then every route is)."
  value       = sort(keys(aws_apigatewayv2_route.anonymous))
}
