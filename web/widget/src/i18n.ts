// The widget's two languages: Simplified Chinese by default, English when asked for.
export type Locale = 'zh-CN' | 'en';

const zh = {
  title: '在线客服',
  greeting: '您好！有什么可以帮您？',
  placeholder: '输入消息…',
  send: '发送',
  tooLong: '内容过长：最多 {max} 个字符',
  attach: '发送图片或文件',
  close: '关闭',
  sending: '发送中',
  sent: '已送达',
  read: '已读',
  failed: '发送失败',
  retry: '重试',
  offline: '网络已断开，消息将在恢复后发送',
  connecting: '正在连接…',
  typing: '客服正在输入…',
  you: '我',
  agent: '客服',
  preChatTitle: '开始对话前，请留下您的联系方式',
  name: '姓名',
  phone: '电话',
  consent: '我同意为处理本次咨询而处理我的个人信息（姓名、电话）。',
  consentRequired: '请勾选同意后再继续',
  start: '开始对话',
  skip: '跳过',
  recalled: '消息已撤回',
  tooLarge: '文件过大',
  uploadFailed: '上传失败',
  language: 'English',
  download: '下载',
  assigned: '{name} 为您服务',
  resolved: '对话已结束',
  newMessages: '新消息 {n} ↓',
  newMessage: '新消息 {n} ↓',
} as const;

export type Messages = { [K in keyof typeof zh]: string };

const en: Messages = {
  title: 'Chat with us',
  greeting: 'Hello! How can we help you?',
  placeholder: 'Type a message…',
  send: 'Send',
  tooLong: 'Too long: at most {max} characters',
  attach: 'Send an image or a file',
  close: 'Close',
  sending: 'Sending',
  sent: 'Sent',
  read: 'Read',
  failed: 'Not sent',
  retry: 'Retry',
  offline: 'You are offline; messages will be sent when the connection is back',
  connecting: 'Connecting…',
  typing: 'An agent is typing…',
  you: 'You',
  agent: 'Agent',
  preChatTitle: 'Before we start, please tell us how to reach you',
  name: 'Name',
  phone: 'Phone',
  consent: 'I agree to the processing of my personal data (name, phone) to handle this request.',
  consentRequired: 'Please tick the consent box to continue',
  start: 'Start chat',
  skip: 'Skip',
  recalled: 'Message recalled',
  tooLarge: 'The file is too large',
  uploadFailed: 'Upload failed',
  language: '中文',
  download: 'Download',
  assigned: '{name} is now helping you',
  resolved: 'The conversation was closed',
  newMessages: '{n} new messages ↓',
  newMessage: '{n} new message ↓',
};

export const MESSAGES: Record<Locale, Messages> = { 'zh-CN': zh, en };

export function isLocale(v: unknown): v is Locale {
  return v === 'zh-CN' || v === 'en';
}
