/** The `redis_url` every Redis adapter uses when the config names none. */
export const DEFAULT_REDIS_URL = "redis://localhost:6379";
