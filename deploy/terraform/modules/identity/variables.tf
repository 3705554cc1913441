variable "name" {
  type        = string
  description = "Name of the user pool and prefix of its clients."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "scopes" {
  type        = map(string)
  description = "Scopes of the resource server, name -> description: the scopes the contracts declare (access.json)."

  validation {
    condition     = length(var.scopes) > 0 && alltrue([for s in keys(var.scopes) : can(regex("^[A-Za-z0-9._-]{1,256}$", s))])
    error_message = "scopes needs at least one scope; names are letters, digits, dots, underscores and hyphens."
  }
}

variable "resource_server_identifier" {
  type        = string
  description = "Identifier of the resource server: the prefix of every scope in a token (\"shop\" -> \"shop/orders.read\")."
  default     = "shop"

  validation {
    condition     = can(regex("^[A-Za-z0-9._~-]{1,256}$", var.resource_server_identifier))
    error_message = "resource_server_identifier must be 1-256 URL-safe characters without a slash."
  }
}

variable "user_scopes" {
  type        = list(string)
  description = "Scopes the browser client may request for a signed-in user. Cognito grants a user any scope the client allows, so staff scopes belong here only in a pool of staff."
  default     = ["orders.read", "orders.write"]

  validation {
    condition     = length(var.user_scopes) == length(distinct(var.user_scopes))
    error_message = "user_scopes must not repeat a scope."
  }
}

variable "machine_client" {
  type        = bool
  description = "Create a confidential client for the client-credentials grant (its secret is kept in Terraform state)."
  default     = false
}

variable "machine_scopes" {
  type        = list(string)
  description = "Scopes the machine client may request; null: every scope."
  default     = null

  validation {
    condition     = var.machine_scopes == null || length(coalesce(var.machine_scopes, [])) > 0
    error_message = "machine_scopes must name at least one scope, or be null for all of them."
  }
}

variable "callback_urls" {
  type        = list(string)
  description = "Where the hosted UI may send the browser back with a code (https, or http://localhost for development)."

  validation {
    condition     = length(var.callback_urls) > 0 && alltrue([for u in var.callback_urls : can(regex("^(https://|http://localhost[:/])", u))])
    error_message = "callback_urls must list at least one https:// (or http://localhost) URL."
  }
}

variable "logout_urls" {
  type        = list(string)
  description = "Where the hosted UI may send the browser after sign-out."

  validation {
    condition     = alltrue([for u in var.logout_urls : can(regex("^(https://|http://localhost[:/])", u))])
    error_message = "logout_urls must be https:// (or http://localhost) URLs."
  }
}

variable "domain_prefix" {
  type        = string
  description = "Prefix of the hosted UI domain (<prefix>.auth.<region>.amazoncognito.com), unique in the Region; null derives one from name and the pool id."
  default     = null

  validation {
    condition     = var.domain_prefix == null || can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", coalesce(var.domain_prefix, "x")))
    error_message = "domain_prefix must be 1-63 lowercase letters, digits and hyphens (and may not contain aws, amazon or cognito)."
  }
}

variable "access_token_minutes" {
  type        = number
  description = "Lifetime of access and ID tokens, in minutes."
  default     = 60

  validation {
    condition     = var.access_token_minutes >= 5 && var.access_token_minutes <= 1440
    error_message = "access_token_minutes must be between 5 and 1440."
  }
}

variable "refresh_token_days" {
  type        = number
  description = "Lifetime of refresh tokens (browser client), in days."
  default     = 30

  validation {
    condition     = var.refresh_token_days >= 1 && var.refresh_token_days <= 3650
    error_message = "refresh_token_days must be between 1 and 3650."
  }
}

variable "threat_protection" {
  type        = string
  description = "Cognito threat protection (advanced security): OFF, AUDIT or ENFORCED. Anything but OFF puts the pool on the Plus feature plan (billed per monthly active user, no free tier)."
  default     = "ENFORCED"

  validation {
    condition     = contains(["OFF", "AUDIT", "ENFORCED"], var.threat_protection)
    error_message = "threat_protection must be OFF, AUDIT or ENFORCED."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the user pool (and its users)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource that takes them."
  default     = {}
}
