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
