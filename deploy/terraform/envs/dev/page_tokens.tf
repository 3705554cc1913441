# The key the mesh services sign their page tokens with (MESH_PAGE_TOKEN_KEY;
# a service on Cloud Map refuses to start without it). Secrets Manager makes
# the value during apply and Terraform writes it through a write-only
# argument, so it is in neither the plan nor the state; ECS injects it into
# every grpc service's task at start (see module "service" in main.tf).

ephemeral "aws_secretsmanager_random_password" "page_token_key" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "page_token_key" {
  #checkov:skip=CKV2_AWS_57:An HMAC key for short-lived page tokens, read only at task start; a new key only invalidates the page tokens in flight, so it is replaced on demand (page_token_key_version) instead of by a rotation Lambda.
  name_prefix             = "${var.name}/page-token-key-"
  description             = "HMAC key of the mesh services' page tokens (MESH_PAGE_TOKEN_KEY)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "page_token_key" {
  secret_id                = aws_secretsmanager_secret.page_token_key.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.page_token_key.random_password
  secret_string_wo_version = var.page_token_key_version
}
