/* Live seat dashboard: draws provinces → campuses → subjects from GET /api/v1/seats, then keeps
 * every cell current from the WebSocket /ws/seats (subscribed to `province:<code>`; the server sends
 * the current state first, then coalesced changes). Under each province's name, its waiting room
 * (GET /api/v1/queue/<code>, no auth): how many wait and how many are let in per minute, polled
 * every 5 s while the room is on and every 60 s while it is off. Reconnects with exponential backoff and shows
 * the connection state and how old the last update is. Plain browser JavaScript: no framework, no
 * CDN, no build step. Text from the server only ever goes through textContent. */
/* global document, location, fetch, WebSocket, URLSearchParams, setTimeout, setInterval, console */
'use strict';

(() => {
  // prettier-ignore
  const PROVINCE_NAMES = {
    11: '北京', 12: '天津', 13: '河北', 14: '山西', 15: '内蒙古',
    21: '辽宁', 22: '吉林', 23: '黑龙江',
    31: '上海', 32: '江苏', 33: '浙江', 34: '安徽', 35: '福建', 36: '江西', 37: '山东',
    41: '河南', 42: '湖北', 43: '湖南', 44: '广东', 45: '广西', 46: '海南',
    50: '重庆', 51: '四川', 52: '贵州', 53: '云南', 54: '西藏',
    61: '陕西', 62: '甘肃', 63: '青海', 64: '宁夏', 65: '新疆',
  };
  // prettier-ignore
  const SUBJECT_ORDER = [
    'CET4', 'CET6', 'CJT4', 'CJT6', 'CGT4', 'CGT6', 'CRT4', 'CRT6', 'TFU4', 'CET-SET4', 'CET-SET6',
  ];
  const COLORS = ['GREEN', 'YELLOW', 'RED'];
  const MAX_TOPICS_PER_MESSAGE = 64;
  const STALE_AFTER_MS = 30_000;
  const STRUCTURE_REFRESH_MS = 60_000;
  const ROOM_POLL_MS = 5_000;
  const ROOM_OFF_POLL_MS = 60_000;

  const query = new URLSearchParams(location.search);
  const onlyProvince = /^[0-9]{2}$/.test(query.get('province') || '') ? query.get('province') : null;

  const main = document.getElementById('provinces');
  const connectionEl = document.getElementById('connection');
  const stalenessEl = document.getElementById('staleness');

  /** campusId|subject → the newest state the socket delivered (wins over the HTTP snapshot). */
  const latest = new Map();
  /** campusId|subject → its <td>. */
  const cells = new Map();
  /** provinceCode → the last GET /api/v1/queue/<code> answer, and when to ask again. */
  const rooms = new Map();
  const roomDue = new Map();
  let provinceCodes = [];
  let socket = null;
  let subscribed = new Set();
  let attempt = 0;
  let reconnectTimer = null;
  let restructureTimer = null;
  let lastUpdateAt = 0;
  let connectionState = 'connecting';

  const keyOf = (campusId, subject) => campusId + '|' + subject;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function colorOf(remaining, capacity) {
    if (remaining <= 0) return 'RED';
    return remaining * 2 > capacity ? 'GREEN' : 'YELLOW';
  }

  function applyCell(td, state) {
    const color = COLORS.includes(state.color) ? state.color : colorOf(state.remaining, state.capacity);
    td.className = 'seat ' + color;
    td.dataset.color = color;
    td.dataset.remaining = String(state.remaining);
    td.dataset.capacity = String(state.capacity);
    td.title = '剩余 ' + state.remaining + ' / 容量 ' + state.capacity;
    td.replaceChildren(
      el(
        'span',
        'count',
        state.remaining > 0 ? state.remaining + ' / ' + state.capacity : '无 / ' + state.capacity,
      ),
      el('span', 'badge ' + color, color === 'RED' ? 'RED · 无' : color),
    );
  }

  function render(data) {
    cells.clear();
    provinceCodes = data.map((province) => province.provinceCode);
    const sections = [];
    for (const province of data) {
      const section = el('section', 'province');
      section.dataset.province = province.provinceCode;
      const name = PROVINCE_NAMES[province.provinceCode];
      section.append(el('h2', null, (name ? name + ' ' : '') + '(' + province.provinceCode + ')'));
      const roomLine = el('p', 'room');
      roomLine.dataset.province = province.provinceCode;
      section.append(roomLine);
      applyRoom(roomLine, rooms.get(province.provinceCode));
      const subjects = new Set();
      for (const campus of province.campuses) for (const seat of campus.seats) subjects.add(seat.subject);
      const columns = SUBJECT_ORDER.filter((s) => subjects.has(s)).concat(
        [...subjects].filter((s) => !SUBJECT_ORDER.includes(s)).sort(),
      );
      if (province.campuses.length === 0) {
        section.append(el('p', 'empty', '暂无考点 no campuses'));
        sections.push(section);
        continue;
      }
      const table = el('table');
      const head = el('tr');
      head.append(el('th', 'campus', '考点 campus'));
      for (const subject of columns) head.append(el('th', null, subject));
      table.append(el('thead'));
      table.tHead.append(head);
      const body = el('tbody');
      for (const campus of province.campuses) {
        const row = el('tr');
        row.dataset.campus = campus.campusId;
        const th = el('th', 'campus', campus.name);
        th.append(el('span', 'id', campus.campusId));
        row.append(th);
        const seats = new Map(campus.seats.map((seat) => [seat.subject, seat]));
        for (const subject of columns) {
          const seat = seats.get(subject);
          if (!seat) {
            row.append(el('td', 'seat none', '—'));
            continue;
          }
          const td = el('td');
          td.dataset.campus = campus.campusId;
          td.dataset.subject = subject;
          const key = keyOf(campus.campusId, subject);
          applyCell(td, latest.get(key) || seat);
          cells.set(key, td);
          row.append(td);
        }
        body.append(row);
      }
      table.append(body);
      const wrap = el('div', 'table-wrap');
      wrap.append(table);
      section.append(wrap);
      sections.push(section);
    }
    if (sections.length === 0) sections.push(el('p', 'empty', '暂无考位数据 no seats yet'));
    main.replaceChildren(...sections);
  }

  /** The waiting-room line under a province's name; hidden while the room is off. */
  function applyRoom(p, room) {
    const on = room !== undefined && room.mode !== 'off';
    p.hidden = !on;
    if (!on) return;
    p.dataset.mode = room.mode;
    p.dataset.active = String(room.active === true);
    p.dataset.waiting = String(room.waiting);
    p.dataset.admittedPerMinute = String(room.admittedPerMinute);
    p.replaceChildren(
      el('span', 'room-state', room.active ? '排队中 waiting room on' : '排队未开启 waiting room idle'),
      el('span', 'room-waiting', '排队 ' + room.waiting + ' 人 · ' + room.waiting + ' waiting'),
      el(
        'span',
        'room-rate',
        '放行 ' + room.admittedPerMinute + ' 人/分钟 · ' + room.admittedPerMinute + ' admitted/min',
      ),
    );
  }

  async function pollRooms() {
    const now = Date.now();
    const due = provinceCodes.filter((code) => (roomDue.get(code) || 0) <= now);
    await Promise.all(
      due.map(async (code) => {
        try {
          const response = await fetch('/api/v1/queue/' + code, {
            cache: 'no-store',
            headers: { accept: 'application/json' },
          });
          // refused or shed (an opening's load): keep the last answer, ask again on the next round
          if (!response.ok) return;
          const room = await response.json();
          if (!room || typeof room.waiting !== 'number' || typeof room.mode !== 'string') return;
          rooms.set(code, room);
          roomDue.set(code, now + (room.mode === 'off' ? ROOM_OFF_POLL_MS : ROOM_POLL_MS));
          const p = main.querySelector('p.room[data-province="' + code + '"]');
          if (p) applyRoom(p, room);
        } catch (error) {
          console.warn('dashboard: waiting room ' + code + ' unavailable', error);
        }
      }),
    );
  }

  async function loadStructure() {
    const url = '/api/v1/seats' + (onlyProvince ? '?province=' + onlyProvince : '');
    const response = await fetch(url, { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error('GET ' + url + ' answered ' + response.status);
    const data = await response.json();
    if (!Array.isArray(data)) throw new Error('unexpected seats answer');
    render(data);
    subscribeAll();
  }

  /** A campus or subject the tables do not have yet: redraw (at most once a second). */
  function scheduleRestructure(delayMs) {
    if (restructureTimer !== null) return;
    restructureTimer = setTimeout(() => {
      restructureTimer = null;
      loadStructure().catch((error) => {
        console.warn('dashboard: reload failed', error);
        scheduleRestructure(5_000);
      });
    }, delayMs);
  }

  function onSeats(message) {
    if (typeof message.campusId !== 'string' || typeof message.subject !== 'string') return;
    if (!Number.isFinite(message.remaining) || !Number.isFinite(message.capacity)) return;
    const key = keyOf(message.campusId, message.subject);
    latest.set(key, message);
    lastUpdateAt = Date.now();
    const td = cells.get(key);
    if (!td) {
      scheduleRestructure(1_000);
      return;
    }
    applyCell(td, message);
    td.classList.add('flash');
    setTimeout(() => td.classList.remove('flash'), 800);
    renderStaleness();
  }

  function setConnection(state, text) {
    connectionState = state;
    connectionEl.dataset.state = state;
    connectionEl.textContent = text;
    renderStaleness();
  }

  function renderStaleness() {
    if (lastUpdateAt === 0) {
      stalenessEl.textContent = '尚无更新 no update yet';
      stalenessEl.dataset.stale = 'true';
      return;
    }
    const seconds = Math.max(0, Math.floor((Date.now() - lastUpdateAt) / 1000));
    stalenessEl.textContent = '最后更新 ' + seconds + ' 秒前 · last update ' + seconds + ' s ago';
    stalenessEl.dataset.stale = String(
      connectionState !== 'open' || Date.now() - lastUpdateAt > STALE_AFTER_MS,
    );
    stalenessEl.dataset.ageSeconds = String(seconds);
  }

  function subscribeAll() {
    if (socket === null || socket.readyState !== WebSocket.OPEN) return;
    const topics = provinceCodes.map((code) => 'province:' + code).filter((topic) => !subscribed.has(topic));
    for (let i = 0; i < topics.length; i += MAX_TOPICS_PER_MESSAGE) {
      const chunk = topics.slice(i, i + MAX_TOPICS_PER_MESSAGE);
      socket.send(JSON.stringify({ subscribe: chunk }));
      for (const topic of chunk) subscribed.add(topic);
    }
  }

  function connect() {
    reconnectTimer = null;
    setConnection('connecting', '连接中 connecting…');
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/seats';
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) {
      console.warn('dashboard: cannot open the socket', error);
      scheduleReconnect();
      return;
    }
    socket = ws;
    subscribed = new Set();
    ws.onopen = () => {
      attempt = 0;
      setConnection('open', '已连接 live');
      subscribeAll();
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && message.type === 'seats') onSeats(message);
      else if (message && message.type === 'error') console.warn('dashboard: server refused', message);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null) return;
    const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    attempt++;
    setConnection(
      'closed',
      '已断开，' + Math.ceil(delay / 1000) + ' 秒后重连 · reconnecting in ' + Math.ceil(delay / 1000) + ' s',
    );
    reconnectTimer = setTimeout(connect, delay);
  }

  async function start() {
    let delay = 1_000;
    for (;;) {
      try {
        await loadStructure();
        break;
      } catch (error) {
        main.replaceChildren(
          el('p', 'error', '加载失败，稍后重试 loading failed, retrying… (' + error.message + ')'),
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(30_000, delay * 2);
      }
    }
    connect();
    setInterval(renderStaleness, 1_000);
    void pollRooms();
    setInterval(() => void pollRooms(), ROOM_POLL_MS);
    // provinces or campuses added by operators appear without a reload of the page
    setInterval(() => scheduleRestructure(0), STRUCTURE_REFRESH_MS);
  }

  start();
})();
