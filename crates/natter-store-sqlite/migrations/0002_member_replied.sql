-- A member "replied" once they opened the conversation or sent a message in it. In a direct
-- conversation only such a member's presence is shown to the other: a stranger's unsolicited
-- message must not let the stranger watch when the recipient is online.
ALTER TABLE members ADD COLUMN replied INTEGER NOT NULL DEFAULT 0;
UPDATE members SET replied = 1
WHERE user_id = (SELECT c.created_by FROM conversations c WHERE c.id = members.conversation_id)
   OR EXISTS (SELECT 1 FROM messages x
              WHERE x.conversation_id = members.conversation_id AND x.sender_id = members.user_id);
