export type { CronLockAdapter } from "./adapter.ts";
export { KvCronAdapter } from "./adapters/kv-store.ts";
export { SYSTEM_CLOCK, type CronClock } from "./clock.ts";
export {
  CRON_ADAPTER_CLASSES,
  CRON_DEFAULTS,
  KV_CRON_ADAPTER,
  REDIS_CRON_ADAPTER,
  parseCronConfig,
  type CronAdapterConfig,
  type CronModuleConfig,
  type KvCronAdapterConfig,
  type RedisCronAdapterConfig,
} from "./config.ts";
export { CRON_TRIGGER_TYPE, CronModule, cronModuleFactory, type CronModuleOptions } from "./cron-module.ts";
export {
  CronExpressionError,
  DEFAULT_CRON_TIMEZONE,
  INVALID_CRON_EXPRESSION,
  nextFireTimes,
  parseCronExpression,
  type CronSchedule,
} from "./expression.ts";
