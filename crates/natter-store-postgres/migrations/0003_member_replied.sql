-- A member "replied" once they opened the conversation or sent a message in it. In a direct
-- conversation only such a member's presence is shown to the other: a stranger's unsolicited
-- message must not let the stranger watch when the recipient is online. Existing members are
-- marked from the conversations they created and from messages kept here (with bodies in
-- Cassandra, a recipient is marked again by their next message).
ALTER TABLE members ADD COLUMN replied boolean NOT NULL DEFAULT false;
UPDATE members m SET replied = true
FROM conversations c
WHERE c.id = m.conversation_id
  AND (c.created_by = m.user_id
       OR EXISTS (SELECT 1 FROM messages x
                  WHERE x.conversation_id = m.conversation_id AND x.sender_id = m.user_id));
