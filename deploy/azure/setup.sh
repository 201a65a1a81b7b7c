#!/usr/bin/env bash
# Create or update the Azure side of the project, idempotently: a resource group, a Linux App
# Service plan and two WebApps for Containers (API and UI) with their settings, health-check
# path, HTTPS only and always-on. Run it again after changing a setting: it converges.
#
#   AZURE_RESOURCE_GROUP=rg-flipkart AZURE_API_APP_NAME=flipkart-api-123 \
#   AZURE_UI_APP_NAME=flipkart-ui-123 API_IMAGE=ghcr.io/owner/flipkart-api:latest \
#   UI_IMAGE=ghcr.io/owner/flipkart-ui:latest bash deploy/azure/setup.sh
#
# Needs the Azure CLI, logged in (`az login`) on the right subscription. Optional:
#   AZURE_LOCATION (westeurope), AZURE_PLAN_NAME (<group>-plan), AZURE_PLAN_SKU (B1)
#   REGISTRY_URL, REGISTRY_USERNAME, REGISTRY_PASSWORD  private registry the apps pull from
#   ADMIN_KEY_SHA256   comma-separated sha256 hex digests of the admin API keys
#   ADMIN_API_KEY      an admin key itself: its sha256 joins the API's accepted digests and the
#                      UI gets it as API_KEY (the key the UI sends for the private statistics)
#   DATABASE_URL       the prediction store (default: SQLite inside the container, not durable)
#   GITHUB_REPOSITORY  owner/name: also create the OIDC identity GitHub Actions deploys with
set -euo pipefail

: "${AZURE_RESOURCE_GROUP:?set AZURE_RESOURCE_GROUP}"
: "${AZURE_API_APP_NAME:?set AZURE_API_APP_NAME}"
: "${AZURE_UI_APP_NAME:?set AZURE_UI_APP_NAME}"
: "${API_IMAGE:?set API_IMAGE (registry/name:tag)}"
: "${UI_IMAGE:?set UI_IMAGE (registry/name:tag)}"
AZURE_LOCATION=${AZURE_LOCATION:-westeurope}
AZURE_PLAN_NAME=${AZURE_PLAN_NAME:-$AZURE_RESOURCE_GROUP-plan}
AZURE_PLAN_SKU=${AZURE_PLAN_SKU:-B1}
API_PORT=8000
UI_PORT=7860

log() { echo "azure-setup: $*"; }

exists() { "$@" --output none >/dev/null 2>&1; }

ensure_group() {
  log "resource group $AZURE_RESOURCE_GROUP ($AZURE_LOCATION)"
  az group create --name "$AZURE_RESOURCE_GROUP" --location "$AZURE_LOCATION" --output none
}

ensure_plan() {
  if exists az appservice plan show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_PLAN_NAME"; then
    log "plan $AZURE_PLAN_NAME exists: setting sku $AZURE_PLAN_SKU"
    az appservice plan update --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_PLAN_NAME" \
      --sku "$AZURE_PLAN_SKU" --output none
  else
    log "creating plan $AZURE_PLAN_NAME ($AZURE_PLAN_SKU, Linux)"
    az appservice plan create --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_PLAN_NAME" \
      --location "$AZURE_LOCATION" --sku "$AZURE_PLAN_SKU" --is-linux --output none
  fi
}

# ensure_app NAME IMAGE HEALTH_PATH SETTING=VALUE...
ensure_app() {
  local name=$1 image=$2 health_path=$3
  shift 3
  if exists az webapp show --resource-group "$AZURE_RESOURCE_GROUP" --name "$name"; then
    log "webapp $name exists"
  else
    log "creating webapp $name"
    az webapp create --resource-group "$AZURE_RESOURCE_GROUP" --plan "$AZURE_PLAN_NAME" \
      --name "$name" --container-image-name "$image" --output none
  fi
  local registry=()
  if [ -n "${REGISTRY_URL:-}" ]; then
    registry=(--container-registry-url "$REGISTRY_URL"
      --container-registry-user "${REGISTRY_USERNAME:?REGISTRY_USERNAME is needed with REGISTRY_URL}"
      --container-registry-password "${REGISTRY_PASSWORD:?REGISTRY_PASSWORD is needed with REGISTRY_URL}")
  fi
  log "$name: image $image"
  az webapp config container set --resource-group "$AZURE_RESOURCE_GROUP" --name "$name" \
    --container-image-name "$image" "${registry[@]}" --output none
  log "$name: settings $(printf '%s ' "${@%%=*}")"
  az webapp config appsettings set --resource-group "$AZURE_RESOURCE_GROUP" --name "$name" \
    --settings "$@" --output none
  log "$name: health check $health_path, always on, HTTPS only"
  az webapp config set --resource-group "$AZURE_RESOURCE_GROUP" --name "$name" \
    --always-on true --http20-enabled true \
    --generic-configurations "{\"healthCheckPath\": \"$health_path\"}" --output none
  az webapp update --resource-group "$AZURE_RESOURCE_GROUP" --name "$name" --https-only true \
    --output none
}

ensure_github_identity() {
  # An app registration whose federated credential lets the workflows on main log in (OIDC),
  # allowed to deploy to this resource group only.
  local display="github-$GITHUB_REPOSITORY-deploy" app_id scope subject
  display=${display//\//-}
  app_id=$(az ad app list --display-name "$display" --query "[0].appId" --output tsv)
  if [ -z "$app_id" ]; then
    log "creating app registration $display"
    app_id=$(az ad app create --display-name "$display" --query appId --output tsv)
  fi
  exists az ad sp show --id "$app_id" || az ad sp create --id "$app_id" --output none
  scope=$(az group show --name "$AZURE_RESOURCE_GROUP" --query id --output tsv)
  if [ -z "$(az role assignment list --assignee "$app_id" --scope "$scope" \
    --role "Website Contributor" --query "[0].id" --output tsv)" ]; then
    az role assignment create --assignee "$app_id" --scope "$scope" \
      --role "Website Contributor" --output none
  fi
  for subject in "repo:$GITHUB_REPOSITORY:ref:refs/heads/main" \
    "repo:$GITHUB_REPOSITORY:environment:production"; do
    local credential=${subject//[^a-zA-Z0-9]/-}
    if [ -z "$(az ad app federated-credential list --id "$app_id" \
      --query "[?subject=='$subject'].name" --output tsv)" ]; then
      log "federated credential for $subject"
      az ad app federated-credential create --id "$app_id" --parameters "{\"name\": \"${credential:0:120}\", \"issuer\": \"https://token.actions.githubusercontent.com\", \"subject\": \"$subject\", \"audiences\": [\"api://AzureADTokenExchange\"]}" \
        --output none
    fi
  done
  log "GitHub secrets: AZURE_CLIENT_ID=$app_id" \
    "AZURE_TENANT_ID=$(az account show --query tenantId --output tsv)" \
    "AZURE_SUBSCRIPTION_ID=$(az account show --query id --output tsv)"
}

main() {
  ensure_group
  ensure_plan
  # Behind App Service's front end (a private address) the client is the right-most public
  # address of X-Forwarded-For; what the client wrote to its left is ignored (rate limiting).
  local api_settings=("WEBSITES_PORT=$API_PORT" "FLIPKART_LOG_LEVEL=INFO"
    "FLIPKART_TRUSTED_PROXIES=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,fc00::/7")
  local digests=${ADMIN_KEY_SHA256:-}
  local ui_settings=("WEBSITES_PORT=$UI_PORT" "API_URL=https://$AZURE_API_APP_NAME.azurewebsites.net")
  if [ -n "${ADMIN_API_KEY:-}" ]; then
    local digest
    digest=$(printf '%s' "$ADMIN_API_KEY" | sha256sum | cut -d' ' -f1)
    [[ ",$digests," == *",$digest,"* ]] || digests=${digests:+$digests,}$digest
    ui_settings+=("API_KEY=$ADMIN_API_KEY")
  fi
  [ -n "$digests" ] && api_settings+=("FLIPKART_ADMIN_KEY_SHA256=$digests")
  [ -n "${DATABASE_URL:-}" ] && api_settings+=("DATABASE_URL=$DATABASE_URL")
  ensure_app "$AZURE_API_APP_NAME" "$API_IMAGE" /health "${api_settings[@]}"
  ensure_app "$AZURE_UI_APP_NAME" "$UI_IMAGE" / "${ui_settings[@]}"
  if [ -n "${GITHUB_REPOSITORY:-}" ]; then
    ensure_github_identity
  fi
  log "done: https://$AZURE_API_APP_NAME.azurewebsites.net/health" \
    "https://$AZURE_UI_APP_NAME.azurewebsites.net/"
}

main "$@"
