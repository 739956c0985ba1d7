output "verdeelbak_bucket" {
  value = aws_s3_bucket.verdeelbak.bucket
}

output "connections_table" {
  value = aws_dynamodb_table.connections.name
}

output "state_table" {
  value = aws_dynamodb_table.state.name
}

output "fetch_function" {
  value = aws_lambda_function.fetch.function_name
}

output "fanout_function" {
  value = aws_lambda_function.fanout.function_name
}

output "connections_api_url" {
  description = "Where the platform calls the connections API (SigV4, service execute-api)"
  value       = aws_apigatewayv2_api.connections.api_endpoint
}

output "connections_function" {
  value = aws_lambda_function.connections.function_name
}
