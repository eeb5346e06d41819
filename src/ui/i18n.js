// The console's languages (SPEC §Operators, language): Simplified Chinese and
// English, one key set, and the dates in the site's zone. Plain objects, no
// build step; test/unit/console-i18n.test.ts checks that both languages have
// every key and that every key the page and app.js use is here.
//
// A message is a string with {name} placeholders, or { one, other } where
// the count {n} decides (English only; Chinese has one form).

/** The languages offered, in the switch's order. */
export const LANGS = ['zh-CN', 'en'];

export const MESSAGES = {
  'zh-CN': {
    'app.title': 'facegate 控制台',
    'lang.label': '语言',
    'zone.label': '时间按站点时区 {zone}（UTC{offset}）显示',
    'zone.short': '时区 {zone}（UTC{offset}）',
    'role.label': '{name}（{role}）',
    'role.viewer': '只读',
    'role.operator': '操作员',
    'role.admin': '管理员',
    'role.needs': '需要{role}权限，当前令牌为{current}。',
    'live.connecting': '连接中…',
    'live.live': '实时',
    'live.disconnected': '已断开',
    'live.reconnecting': '重新连接中…',
    logout: '退出登录',
    close: '关闭',

    'login.title': '登录',
    'login.token': '令牌',
    'login.submit': '登录',
    'login.wrong': '令牌错误。',
    'login.ended': '会话已结束，请重新登录。',

    'terminals.title': '门禁终端',
    'terminals.empty': '尚未发现终端。',
    'terminals.more': '更多终端',
    'terminals.error': '终端：{error}',
    'terminal.online': '在线',
    'terminal.offline': '离线',
    'terminal.option.offline': '{sn}（离线）',
    'terminal.lastSeen': '最后活动 {time}',

    'command.title': '发送命令',
    'command.terminal': '终端',
    'command.cmd': '命令（cmd）',
    'command.extra': '附加字段（JSON 对象，可选）',
    'command.ttl': '终端离线时保留（ttl，可选）',
    'command.send': '发送',
    'command.chooseTerminal': '请先选择终端。',
    'command.extraBad': '附加字段：{error}',
    'command.sending': '正在发送到 {sn}…',
    'command.notSent': '未发送：{error}',
    'command.replyFrom': '{sn} 的回复：',
    'command.waiting': '已发送到 {sn}，等待回复…',
    'command.held': '已为 {sn} 保留，待其上线后发送。',
    'command.stateOf': '{sn}：{status}。',
    'command.error': '命令 {id}：{error}',
    'command.created': '创建于 {time}',
    'command.published': '发出于 {time}',
    'command.replied': '回复于 {time}',
    'command.expires': '过期时间 {time}',
    'command.expiredAt': '过期于 {time}',
    'command.reply': '回复',
    'command.replyAt': '回复于 {time}',
    'command.latency': ' · 发出后 {duration}',
    'command.replyNotListed': '列表中未显示回复 · ',
    'command.whole': '完整命令',
    'command.body': '内容 {size} · ',
    'command.by': '操作者 {actor}',

    'fanout.title': '批量发送',
    'fanout.devices': '终端（序列号，以逗号或空格分隔）',
    'fanout.all': '全部终端',
    'fanout.command': '命令（含 cmd 的 JSON 对象）',
    'fanout.ttl': '终端离线时保留（ttl，可选）',
    'fanout.send': '发送到这些终端',
    'fanout.commandBad': '命令：{error}',
    'fanout.listTerminals': '请填写终端，或勾选全部终端。',
    'fanout.sending': '正在发送…',
    'fanout.counts': '{n} 条命令{first}：{counts}',
    'fanout.first': '（前 {n} 条）',
    'fanout.error': '批次 {id}：{error}',

    'commands.title': '命令记录',
    'commands.batch': '批次',
    'commands.empty': '没有命令。',
    'commands.error': '命令：{error}',

    'filter.state': '状态',
    'filter.any': '全部',
    'filter.terminal': '终端',
    'filter.terminalAny': '全部',
    'filter.submit': '筛选',
    'filter.refresh': '刷新',

    'command.status.queued': '排队中',
    'command.status.published': '已发出',
    'command.status.replied': '已回复',
    'command.status.unanswered': '无回复',
    'command.status.expired': '已过期',
    'command.status.failed': '失败',

    'sync.status.pending': '待同步',
    'sync.status.sent': '已下发',
    'sync.status.applied': '已生效',
    'sync.status.failed': '失败',

    'delivery.status.dead': '失败',
    'delivery.status.pending': '待投递',
    'delivery.status.delivered': '已送达',

    'event.face.verified': '人脸通过',
    'event.face.rejected': '人脸未通过',
    'event.face.stranger': '陌生人',
    'event.device.online': '终端上线',
    'event.device.offline': '终端离线',
    'event.device.message': '终端消息',
    'event.command.replied': '命令已回复',
    'event.command.unanswered': '命令无回复',
    'event.command.expired': '命令已过期',
    'event.person.synced': '人员已同步',
    'event.person.sync_failed': '人员同步失败',
    'event.delivery.dead': '投递失败',
    'event.endpoint.disabled': '端点已停用',
    'event.device.clock_skew': '终端时钟偏差',
    'event.broker.drops': '代理丢弃消息',

    'events.title': '实时事件',
    'events.empty': '暂无事件。',
    'events.pause': '暂停',
    'events.resume': '继续',
    'events.pauseLabel': '暂停实时事件列表',
    'events.paused': '已暂停：期间到达 {n} 条事件',
    'events.resumed': '暂停期间到达 {n} 条事件',
    'events.unknownPerson': '未知人员',
    'events.code': '{who} · 比对码 {code}',
    'events.truncatedMessage': '消息 {size}，此处不显示 · ',
    'events.truncatedFields': '字段 {size}，此处不显示 · ',
    'events.whole': '完整事件',
    'events.faceOf': '{name} 的人脸',
    'events.noReply': '{cmd}：超时未回复',
    'events.expired': '{cmd}：ttl 已到，未能发出',
    'events.personRemoved': '人员 {num} 已从所有目标终端删除',
    'events.personSynced': '人员 {num} 已同步到所有目标终端',
    'events.personRefused': '人员 {num} 被拒绝：代码 {code}{message}',

    'deliveries.title': '投递',
    'deliveries.tabs': '投递状态',
    'deliveries.empty': '这里没有内容。',
    'deliveries.attempts': '尝试 {n} 次',
    'deliveries.notTried': '尚未尝试',
    'deliveries.error': '投递：{error}',
    retry: '重试',
    'retry.error': '重试 {id}：{error}',

    'endpoints.title': 'Webhook 与聊天告警',
    'endpoint.url': 'URL（后端，或聊天应用的机器人）',
    'endpoint.format': '格式',
    'endpoint.format.standard': '标准（签名 JSON）',
    'endpoint.format.feishu': '飞书',
    'endpoint.format.dingtalk': '钉钉',
    'endpoint.format.wecom': '企业微信',
    'endpoint.format.slack': 'Slack',
    'endpoint.lang': '语言',
    'endpoint.secret': '密钥（标准：whsec_…；飞书、钉钉：机器人的签名密钥；可选）',
    'endpoint.types': '事件类型',
    'endpoint.add': '添加',
    'endpoint.added': '已添加 {id}。',
    'endpoint.enabled': '已启用',
    'endpoint.disabled': '已停用（{reason}）',
    'endpoint.reason.config': '未配置',
    'endpoint.reason.gone': '接收方返回 410',
    'endpoint.reason.admin': '管理员停用',
    'endpoint.test': '测试',
    'endpoint.enable': '启用',
    'endpoint.disable': '停用',
    'endpoint.delete': '删除',
    'endpoint.sending': '发送中…',
    'endpoint.ok': '成功',
    'endpoint.failed': '失败',
    'endpoint.noAnswer': '无应答',
    'endpoint.code': '代码 {code}',
    'endpoints.empty': '暂无端点。',
    'endpoints.error': '端点：{error}',

    'people.title': '终端上的人员',
    'people.empty': '没有人员。',
    'people.more': '更多人员',
    'people.error': '人员：{error}',
    'people.noTerminal': '无终端',
    'people.count': '{n} {status}',
    'people.here': '此终端{status}',
    'people.beingRemoved': '删除中',
    'person.formTitle': '添加或替换人员',
    'person.num': '编号（num）',
    'person.name': '姓名',
    'person.photo': '照片（JPEG，最大 1 MB；不选则保留当前照片）',
    'person.devices': '终端（序列号，以逗号或空格分隔）',
    'person.all': '全部终端，包括以后发现的终端',
    'person.fields': '其他字段（JSON 对象，可选）',
    'person.save': '保存',
    'person.photoOf': '{name} 的照片',
    'person.allTerminals': '全部终端',
    'person.listed': '指定终端',
    'person.beingRemovedLong': '正在从终端删除。',
    'person.changed': '修改于 {time}',
    'person.changedBy': '{actor} 修改于 {time}',
    'person.retryFailed': '重试 {n} 个失败',
    'person.edit': '编辑',
    'person.remove': '删除…',
    'person.erase': '清除全部数据…',
    'person.moreTerminals': '另有 {n} 个终端',
    'person.removal': '删除',
    'person.enrolment': '下发',
    'person.code': '代码 {code}{message}',
    'person.error': '人员 {num}：{error}',
    'person.fieldsBad': '其他字段：{error}',
    'person.saving': '保存中…',
    'person.saved': '已保存 {num}：{n} 个终端。',
    'person.notSaved': '未保存：{error}',
    'person.confirmRemove': '从所有终端删除 {name}（{num}）？',
    'person.removing': '正在从 {n} 个终端删除 {num}。',
    'person.removeError': '删除 {num}：{error}',
    'person.confirmErase':
      '清除 {name}（{num}）？\n\n这将立即永久删除 facegate 保存的此人全部数据：人脸事件及其图片、这些事件待投递的记录、命令和照片；终端会收到删除指令。备份和接收方已收到的数据不受影响。此操作无法撤销。',
    'person.erased': '已清除 {num}：事件 {events} 条，图片 {images} 张，投递 {deliveries} 条，照片 {photo} 张；已向 {terminals} 个终端发送删除。',
    'person.eraseError': '清除 {num}：{error}',

    'rejects.title': '被拒绝的消息',
    'rejects.empty': '没有被拒绝的消息。',
    'rejects.more': '更早的',
    'rejects.error': '被拒绝的消息：{error}',
    'rejects.noSerial': '无序列号',
    'rejects.size': '{size} 字节 · {time}',
    'rejects.cut': '仅前 {size}',
    'reject.too_large': '过大',
    'reject.not_utf8': '非 UTF-8',
    'reject.not_json': '非 JSON',
    'reject.too_deep': '嵌套过深',
    'reject.not_object': '非对象',
    'reject.no_cmd': '缺少 cmd',
    'reject.too_many_records': '记录过多',
    'reject.invalid_fields': '字段无效',
    'reject.unknown_device': '未知终端',
    'reject.terminal_limit': '终端数已达上限',
    'reject.unprocessable': '无法处理',

    'json.mustBeObject': '必须是 JSON 对象，例如 {example}',
    'json.invalid': 'JSON 无效：{error}',

    'error.text': '{text}：{detail}（{code}，HTTP {status}）',
    'error.invalid_request': '请求无效',
    'error.unauthorized': '未登录或令牌无效',
    'error.forbidden': '权限不足',
    'error.not_found': '未找到',
    'error.conflict': '冲突',
    'error.payload_too_large': '内容过大',
    'error.rate_limited': '请求过于频繁',
    'error.internal': '内部错误',
    'error.broker_unavailable': 'MQTT 代理不可用',
    'error.device_offline': '终端离线',
    'error.network': '无法连接到桥接服务',
    'error.http_error': 'HTTP 错误',

    'time.none': '—',
    'size.kb': '{n} KB',
  },

  en: {
    'app.title': 'facegate console',
    'lang.label': 'Language',
    'zone.label': 'Times in the site’s time zone, {zone} (UTC{offset})',
    'zone.short': 'Time zone {zone} (UTC{offset})',
    'role.label': '{name} ({role})',
    'role.viewer': 'viewer',
    'role.operator': 'operator',
    'role.admin': 'admin',
    'role.needs': 'Needs the {role} role; this token is {current}.',
    'live.connecting': 'connecting…',
    'live.live': 'live',
    'live.disconnected': 'disconnected',
    'live.reconnecting': 'reconnecting…',
    logout: 'Log out',
    close: 'close',

    'login.title': 'Sign in',
    'login.token': 'Token',
    'login.submit': 'Sign in',
    'login.wrong': 'Wrong token.',
    'login.ended': 'Your session has ended; sign in again.',

    'terminals.title': 'Terminals',
    'terminals.empty': 'No terminal seen yet.',
    'terminals.more': 'More terminals',
    'terminals.error': 'Terminals: {error}',
    'terminal.online': 'online',
    'terminal.offline': 'offline',
    'terminal.option.offline': '{sn} (offline)',
    'terminal.lastSeen': 'last seen {time}',

    'command.title': 'Send a command',
    'command.terminal': 'Terminal',
    'command.cmd': 'cmd',
    'command.extra': 'Extra fields (JSON object, optional)',
    'command.ttl': 'Hold for an offline terminal (ttl, optional)',
    'command.send': 'Send',
    'command.chooseTerminal': 'Choose a terminal first.',
    'command.extraBad': 'Extra fields: {error}',
    'command.sending': 'Sending to {sn}…',
    'command.notSent': 'Not sent: {error}',
    'command.replyFrom': 'Reply from {sn}:',
    'command.waiting': 'Sent to {sn}; waiting for its reply…',
    'command.held': 'Held for {sn} until it is online.',
    'command.stateOf': '{sn}: {status}.',
    'command.error': 'Command {id}: {error}',
    'command.created': 'created {time}',
    'command.published': 'published {time}',
    'command.replied': 'replied {time}',
    'command.expires': 'expires {time}',
    'command.expiredAt': 'expired {time}',
    'command.reply': 'reply',
    'command.replyAt': 'reply at {time}',
    'command.latency': ' · {duration} after it went out',
    'command.replyNotListed': 'reply not listed · ',
    'command.whole': 'whole command',
    'command.body': 'body of {size} · ',
    'command.by': 'by {actor}',

    'fanout.title': 'Send to several terminals',
    'fanout.devices': 'Terminals (serials, separated by commas or spaces)',
    'fanout.all': 'All terminals',
    'fanout.command': 'Command (JSON object with cmd)',
    'fanout.ttl': 'Hold for offline terminals (ttl, optional)',
    'fanout.send': 'Send to all of them',
    'fanout.commandBad': 'Command: {error}',
    'fanout.listTerminals': 'List the terminals, or tick All terminals.',
    'fanout.sending': 'Sending…',
    'fanout.counts': { one: '{n} command{first}: {counts}', other: '{n} commands{first}: {counts}' },
    'fanout.first': ' (the first {n})',
    'fanout.error': 'Batch {id}: {error}',

    'commands.title': 'Commands',
    'commands.batch': 'Batch',
    'commands.empty': 'No command here.',
    'commands.error': 'Commands: {error}',

    'filter.state': 'State',
    'filter.any': 'any',
    'filter.terminal': 'Terminal',
    'filter.terminalAny': 'any',
    'filter.submit': 'Filter',
    'filter.refresh': 'Refresh',

    'command.status.queued': 'queued',
    'command.status.published': 'published',
    'command.status.replied': 'replied',
    'command.status.unanswered': 'unanswered',
    'command.status.expired': 'expired',
    'command.status.failed': 'failed',

    'sync.status.pending': 'pending',
    'sync.status.sent': 'sent',
    'sync.status.applied': 'applied',
    'sync.status.failed': 'failed',

    'delivery.status.dead': 'dead',
    'delivery.status.pending': 'pending',
    'delivery.status.delivered': 'delivered',

    'event.face.verified': 'face verified',
    'event.face.rejected': 'face rejected',
    'event.face.stranger': 'stranger',
    'event.device.online': 'terminal online',
    'event.device.offline': 'terminal offline',
    'event.device.message': 'terminal message',
    'event.command.replied': 'command replied',
    'event.command.unanswered': 'command unanswered',
    'event.command.expired': 'command expired',
    'event.person.synced': 'person synced',
    'event.person.sync_failed': 'person sync failed',
    'event.delivery.dead': 'delivery dead',
    'event.endpoint.disabled': 'endpoint disabled',
    'event.device.clock_skew': 'terminal clock off',
    'event.broker.drops': 'broker drops',

    'events.title': 'Live events',
    'events.empty': 'No events yet.',
    'events.pause': 'Pause',
    'events.resume': 'Resume',
    'events.pauseLabel': 'Pause the live event list',
    'events.paused': { one: 'Paused: {n} event arrived meanwhile', other: 'Paused: {n} events arrived meanwhile' },
    'events.resumed': { one: '{n} event arrived while paused', other: '{n} events arrived while paused' },
    'events.unknownPerson': 'unknown person',
    'events.code': '{who} · code {code}',
    'events.truncatedMessage': 'message of {size}, not shown here · ',
    'events.truncatedFields': 'fields of {size}, not shown here · ',
    'events.whole': 'whole event',
    'events.faceOf': 'face of {name}',
    'events.noReply': '{cmd}: no reply in time',
    'events.expired': '{cmd}: its ttl ran out before it could go out',
    'events.personRemoved': 'person {num} removed from every terminal meant for them',
    'events.personSynced': 'person {num} in step on every terminal meant for them',
    'events.personRefused': 'person {num} refused: code {code}{message}',

    'deliveries.title': 'Deliveries',
    'deliveries.tabs': 'Delivery states',
    'deliveries.empty': 'Nothing here.',
    'deliveries.attempts': { one: '{n} attempt', other: '{n} attempts' },
    'deliveries.notTried': 'not tried yet',
    'deliveries.error': 'Deliveries: {error}',
    retry: 'Retry',
    'retry.error': 'Retry {id}: {error}',

    'endpoints.title': 'Webhooks and chat alerts',
    'endpoint.url': 'URL (a backend, or a chat app’s robot)',
    'endpoint.format': 'Format',
    'endpoint.format.standard': 'standard (signed JSON)',
    'endpoint.format.feishu': 'Feishu',
    'endpoint.format.dingtalk': 'DingTalk',
    'endpoint.format.wecom': 'WeCom',
    'endpoint.format.slack': 'Slack',
    'endpoint.lang': 'Language',
    'endpoint.secret': 'Secret (standard: whsec_…; Feishu, DingTalk: the robot’s signing secret; optional)',
    'endpoint.types': 'Event types',
    'endpoint.add': 'Add',
    'endpoint.added': 'Added {id}.',
    'endpoint.enabled': 'enabled',
    'endpoint.disabled': 'disabled ({reason})',
    'endpoint.reason.config': 'not configured',
    'endpoint.reason.gone': 'receiver answered 410',
    'endpoint.reason.admin': 'by an admin',
    'endpoint.test': 'Test',
    'endpoint.enable': 'Enable',
    'endpoint.disable': 'Disable',
    'endpoint.delete': 'Delete',
    'endpoint.sending': 'sending…',
    'endpoint.ok': 'ok',
    'endpoint.failed': 'failed',
    'endpoint.noAnswer': 'no answer',
    'endpoint.code': 'code {code}',
    'endpoints.empty': 'No endpoint yet.',
    'endpoints.error': 'Endpoints: {error}',

    'people.title': 'People on the terminals',
    'people.empty': 'Nobody here.',
    'people.more': 'More people',
    'people.error': 'People: {error}',
    'people.noTerminal': 'no terminal',
    'people.count': '{n} {status}',
    'people.here': '{status} here',
    'people.beingRemoved': 'being removed',
    'person.formTitle': 'Add or replace a person',
    'person.num': 'num',
    'person.name': 'Name',
    'person.photo': 'Photo (JPEG, at most 1 MB; none chosen keeps the current one)',
    'person.devices': 'Terminals (serials, separated by commas or spaces)',
    'person.all': 'All terminals, and every terminal seen later',
    'person.fields': 'Other fields (JSON object, optional)',
    'person.save': 'Save',
    'person.photoOf': 'photo of {name}',
    'person.allTerminals': 'all terminals',
    'person.listed': 'the terminals listed',
    'person.beingRemovedLong': 'Being removed from the terminals.',
    'person.changed': 'changed {time}',
    'person.changedBy': 'changed {time} by {actor}',
    'person.retryFailed': 'Retry {n} failed',
    'person.edit': 'Edit',
    'person.remove': 'Remove…',
    'person.erase': 'Erase all their data…',
    'person.moreTerminals': 'and {n} more terminals',
    'person.removal': 'removal',
    'person.enrolment': 'enrolment',
    'person.code': 'code {code}{message}',
    'person.error': 'Person {num}: {error}',
    'person.fieldsBad': 'Other fields: {error}',
    'person.saving': 'Saving…',
    'person.saved': { one: 'Saved {num}: {n} terminal.', other: 'Saved {num}: {n} terminals.' },
    'person.notSaved': 'Not saved: {error}',
    'person.confirmRemove': 'Remove {name} ({num}) from every terminal that has them?',
    'person.removing': { one: 'Removing {num} from {n} terminal.', other: 'Removing {num} from {n} terminals.' },
    'person.removeError': 'Remove {num}: {error}',
    'person.confirmErase':
      'Erase {name} ({num})?\n\nThis deletes now, for good, everything facegate holds about them: their face events and the images of those events, the pending deliveries of those events, their commands and their photo; the terminals get a removal. Backups and what receivers already have are not touched. It cannot be undone.',
    'person.erased': 'Erased {num}: {events} events, {images} images, {deliveries} deliveries, {photo} photo; removal sent to {terminals} terminals.',
    'person.eraseError': 'Erase {num}: {error}',

    'rejects.title': 'Rejected messages',
    'rejects.empty': 'No rejected message.',
    'rejects.more': 'Older',
    'rejects.error': 'Rejected messages: {error}',
    'rejects.noSerial': 'no serial',
    'rejects.size': '{size} bytes · {time}',
    'rejects.cut': 'the first {size} of it',
    'reject.too_large': 'too large',
    'reject.not_utf8': 'not UTF-8',
    'reject.not_json': 'not JSON',
    'reject.too_deep': 'too deep',
    'reject.not_object': 'not an object',
    'reject.no_cmd': 'no cmd',
    'reject.too_many_records': 'too many records',
    'reject.invalid_fields': 'invalid fields',
    'reject.unknown_device': 'unknown terminal',
    'reject.terminal_limit': 'terminal limit reached',
    'reject.unprocessable': 'unprocessable',

    'json.mustBeObject': 'must be a JSON object such as {example}',
    'json.invalid': 'not JSON: {error}',

    'error.text': '{text}: {detail} ({code}, HTTP {status})',
    'error.invalid_request': 'Invalid request',
    'error.unauthorized': 'Not signed in, or the token is wrong',
    'error.forbidden': 'Not allowed',
    'error.not_found': 'Not found',
    'error.conflict': 'Conflict',
    'error.payload_too_large': 'Too large',
    'error.rate_limited': 'Too many requests',
    'error.internal': 'Internal error',
    'error.broker_unavailable': 'MQTT broker unavailable',
    'error.device_offline': 'Terminal offline',
    'error.network': 'Cannot reach the bridge',
    'error.http_error': 'HTTP error',

    'time.none': '—',
    'size.kb': '{n} KB',
  },
};

/** Where the choice made with the switch is kept. */
export const STORAGE_KEY = 'facegate.lang';

/** The language to show: the one chosen with the switch, else Chinese when the browser lists any zh* language, else English. */
export function chooseLang(stored, languages) {
  if (LANGS.includes(stored)) return stored;
  return (languages ?? []).some((l) => /^zh\b/i.test(l)) ? 'zh-CN' : 'en';
}

let current = 'en';
/** The site's zone (GET /api/info), not the browser's: the terminals' times are read in it. */
let zone;

export const lang = () => current;
export function setLang(next) {
  current = LANGS.includes(next) ? next : 'en';
}
export function setZone(timeZone) {
  zone = timeZone;
}

/** A message with its {placeholders} filled; a key in neither language is shown as itself (the unit test keeps that from happening). */
export function t(key, params = {}) {
  let message = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  if (typeof message === 'object') message = message[new Intl.PluralRules(current).select(params.n ?? 0)] ?? message.other;
  return message.replace(/\{(\w+)\}/g, (whole, name) => (params[name] === undefined ? whole : String(params[name])));
}

/** A value of one of the API's lists (a status, an event type, a reason) in words; one the console does not know yet, as the API says it. */
export function term(namespace, value) {
  const key = `${namespace}.${value}`;
  return key in MESSAGES[current] ? t(key) : String(value);
}

/** An instant as a date and time in the site's zone, in the language shown. */
export function formatTime(iso) {
  if (!iso) return t('time.none');
  return new Intl.DateTimeFormat(current, { dateStyle: 'short', timeStyle: 'medium', timeZone: zone }).format(new Date(iso));
}

const UNITS = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];

/** How long ago an instant was ("3 分钟前", "3 minutes ago"). */
export function formatRelative(iso, now = Date.now()) {
  if (!iso) return t('time.none');
  const ms = Date.parse(iso) - now;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(ms) >= size) ?? UNITS[3];
  return new Intl.RelativeTimeFormat(current, { numeric: 'auto' }).format(Math.round(ms / size), unit);
}

/** A number in the language shown. */
export const formatNumber = (n) => new Intl.NumberFormat(current).format(n);

/**
 * The page's own texts: an element's text from data-i18n, and its
 * placeholder, title and aria-label from data-i18n-placeholder, -title,
 * -aria-label. Labels keep their fields: the text sits in a span of its own.
 */
export function translatePage(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const [attribute, data] of [
    ['placeholder', 'i18nPlaceholder'],
    ['title', 'i18nTitle'],
    ['aria-label', 'i18nAriaLabel'],
  ]) {
    for (const el of root.querySelectorAll(`[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`)) el.setAttribute(attribute, t(el.dataset[data]));
  }
}
