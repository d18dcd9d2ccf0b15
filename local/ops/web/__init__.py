"""Pages the local cloud serves beside the API: the timeline page (/ui) and the API's Swagger UI (/swagger)."""
